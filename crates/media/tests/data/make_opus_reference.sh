#!/bin/sh
# Regenerates the libopus reference data used by tests/codec_opus_interop.rs: packets coded by
# the real libopus (opus-tools' opusenc) and, for the narrowband stream, libopus's own decode of
# them (opusdec), so our Opus decoder (opus-rs) is checked against an independent
# implementation. Run from anywhere; needs opus-tools (opusenc, opusdec) and python3.
#
#   opus_nb_fec_dtx.packets   1.5 s of a voiced test signal, 1 s of digital silence, 0.5 s of
#                             signal again, mono, coded at 24 kbit/s, 20 ms frames, forced
#                             narrowband, in-band FEC on (20 % expected loss), DTX on.
#   opus_nb_fec_dtx_48k.s16   the first 0.5 s of opusdec's decode of it, at 48 kHz (opusdec
#                             decodes at 48 kHz and resamples anything else with its own
#                             resampler, so 48 kHz is the rate where its output is libopus's),
#                             no dither, pre-skip removed: little-endian i16.
#   opus_fb_stereo.packets    1 s of stereo: 440 Hz left, 1,000 Hz right, 64 kbit/s, 20 ms,
#                             music tuning (CELT), full band.
#
# A .packets file is the Ogg stream's audio packets (OpusHead and OpusTags dropped), each as a
# little-endian u16 length followed by that many octets.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$tmp" <<'PY'
import math, struct, sys
tmp = sys.argv[1]
def voice(rate, amp, n):
    # Same signal as tests/codec_support::voice.
    out, phase = [], 0.0
    for i in range(n):
        t = i / rate
        f0 = 140.0 + 30.0 * math.sin(2 * math.pi * 3.0 * t)
        phase += 2 * math.pi * f0 / rate
        s = sum(math.sin(phase * h) / h for h in range(1, 12) if h * f0 < rate / 2)
        env = 0.6 + 0.4 * math.sin(2 * math.pi * 4.0 * t)
        out.append(max(-32768, min(32767, round(amp / 2 * s * env))))
    return out
nb = voice(8000, 10000.0, 12000) + [0] * 8000 + voice(8000, 10000.0, 4000)
open(f"{tmp}/nb.raw", "wb").write(struct.pack(f"<{len(nb)}h", *nb))
st = []
for i in range(48000):
    st.append(round(8000 * math.sin(2 * math.pi * 440 * i / 48000)))
    st.append(round(8000 * math.sin(2 * math.pi * 1000 * i / 48000)))
open(f"{tmp}/st.raw", "wb").write(struct.pack(f"<{len(st)}h", *st))
PY

# libopus ctls: 4008 OPUS_SET_BANDWIDTH (1101 = narrowband), 4012 OPUS_SET_INBAND_FEC,
# 4016 OPUS_SET_DTX.
opusenc --quiet --raw --raw-rate 8000 --raw-chan 1 --bitrate 24 --framesize 20 --speech \
    --expect-loss 20 --set-ctl-int 4008=1101 --set-ctl-int 4012=1 --set-ctl-int 4016=1 \
    "$tmp/nb.raw" "$tmp/nb.opus"
opusdec --quiet --rate 48000 --no-dither "$tmp/nb.opus" "$tmp/nb.wav"
opusenc --quiet --raw --raw-rate 48000 --raw-chan 2 --bitrate 64 --framesize 20 --music \
    "$tmp/st.raw" "$tmp/st.opus"

python3 - "$tmp" <<'PY'
import struct, sys
tmp = sys.argv[1]
def packets(path):
    # Ogg pages (RFC 3533): 27-octet header, segment table, then segments; a packet ends at the
    # first segment shorter than 255 octets.
    data, pos, cur, out = open(path, "rb").read(), 0, b"", []
    while pos < len(data):
        assert data[pos:pos + 4] == b"OggS"
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        pos += 27 + nseg
        for l in lacing:
            cur += data[pos:pos + l]
            pos += l
            if l < 255:
                out.append(cur)
                cur = b""
    assert out[0].startswith(b"OpusHead") and out[1].startswith(b"OpusTags")
    return out[2:]
for src, dst in (("nb.opus", "opus_nb_fec_dtx.packets"), ("st.opus", "opus_fb_stereo.packets")):
    with open(dst, "wb") as f:
        for p in packets(f"{tmp}/{src}"):
            f.write(struct.pack("<H", len(p)) + p)
# The WAV's data chunk, as raw i16.
wav = open(f"{tmp}/nb.wav", "rb").read()
i = wav.index(b"data")
(size,) = struct.unpack("<I", wav[i + 4:i + 8])
open("opus_nb_fec_dtx_48k.s16", "wb").write(wav[i + 8:i + 8 + min(size, 48000)])
PY
ls -l opus_nb_fec_dtx.packets opus_nb_fec_dtx_48k.s16 opus_fb_stereo.packets
