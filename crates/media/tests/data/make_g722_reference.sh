#!/bin/sh
# Regenerates the G.722 reference data used by tests/codec_g722_reference.rs, with libg722
# (Sippy Software's public-domain G.722, derived from Steve Underwood's spandsp code), an
# implementation independent of the `audio-codec` crate we use. Needs python3 and
# `pip install g722` (1.2.8).
#
#   g722_libg722.codes        1 s of a voiced test signal (16 kHz, the same recipe as
#                             tests/codec_support::voice) coded by libg722 at 64 kbit/s:
#                             8,000 octets, one per pair of samples.
#   g722_libg722_decoded.s16  libg722's decode of those octets: 16,000 little-endian i16.
set -eu
cd "$(dirname "$0")"
python3 - <<'PY'
import array, math
import G722

def voice(rate, amp, n):
    out, phase = [], 0.0
    for i in range(n):
        t = i / rate
        f0 = 140.0 + 30.0 * math.sin(2 * math.pi * 3.0 * t)
        phase += 2 * math.pi * f0 / rate
        s = sum(math.sin(phase * h) / h for h in range(1, 12) if h * f0 < rate / 2)
        env = 0.6 + 0.4 * math.sin(2 * math.pi * 4.0 * t)
        out.append(max(-32768, min(32767, round(amp / 2 * s * env))))
    return out

pcm = array.array("h", voice(16000, 10000.0, 16000))
codes = G722.G722(16000, 64000).encode(pcm)
decoded = G722.G722(16000, 64000).decode(codes)
assert len(codes) == 8000 and len(decoded) == 16000
open("g722_libg722.codes", "wb").write(codes)
open("g722_libg722_decoded.s16", "wb").write(decoded.tobytes())
PY
ls -l g722_libg722.codes g722_libg722_decoded.s16
