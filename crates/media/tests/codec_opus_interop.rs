//! Our Opus decoder against packets coded by the real libopus (1.3.1, through opus-tools'
//! `opusenc`), and against libopus's own decode of them (`opusdec`): narrowband SILK with
//! in-band FEC and DTX, and full-band stereo CELT, which a mono decoder must downmix.
//! The data comes from `tests/data/make_opus_reference.sh`.
//!
//! Our encoder's packets are checked by the same decoder in `tests/codec.rs`; what this file
//! adds is independence: opus-rs decoding libopus's bitstream, sample for sample.

mod codec_support;

use codec_support::{aligned_snr, tone_amplitude};
use switchboard_media::codec::{
    CodecKind, CodecParams, Decoder, MAX_FRAME_SAMPLES, OpusRate, new_decoder,
};

static NB_PACKETS: &[u8] = include_bytes!("data/opus_nb_fec_dtx.packets");
static NB_LIBOPUS_PCM_48K: &[u8] = include_bytes!("data/opus_nb_fec_dtx_48k.s16");
static FB_STEREO_PACKETS: &[u8] = include_bytes!("data/opus_fb_stereo.packets");

/// Splits a `.packets` file (u16 little-endian length, then the packet) into packets.
fn packets(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let [lo, hi, rest @ ..] = data {
        let len = usize::from(u16::from_le_bytes([*lo, *hi]));
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    out
}

fn decoder(rate: OpusRate) -> Box<dyn Decoder> {
    let params = CodecParams {
        opus_rate: rate,
        ..CodecParams::default()
    };
    new_decoder(CodecKind::Opus, &params).expect("decoder")
}

/// Decodes every packet; packet `lost` (if any) is replaced with FEC from the next one.
fn decode_all(dec: &mut dyn Decoder, packets: &[&[u8]], lost: Option<usize>) -> Vec<i16> {
    let mut frame = [0_i16; MAX_FRAME_SAMPLES];
    let mut out = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let n = if Some(i) == lost {
            dec.decode_fec(packets[i + 1], &mut frame).expect("fec")
        } else {
            dec.decode(p, &mut frame).expect("decode")
        };
        out.extend_from_slice(&frame[..n]);
    }
    out
}

fn libopus_pcm() -> Vec<i16> {
    NB_LIBOPUS_PCM_48K
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

#[test]
fn libopus_narrowband_stream_decodes_bit_exactly_like_libopus() {
    let packets = packets(NB_PACKETS);
    assert_eq!(packets.len(), 151);
    // SILK narrowband 20 ms (config 1) throughout, with DTX: TOC-only packets in the second of
    // digital silence (RFC 7587 §3.1.3).
    assert!(packets.iter().all(|p| p[0] >> 3 == 1));
    let dtx = packets.iter().filter(|p| p.len() == 1).count();
    assert!(dtx > 20, "{dtx} DTX packets");
    let at_8k = decode_all(decoder(OpusRate::Narrowband).as_mut(), &packets, None);
    assert_eq!(
        at_8k.len(),
        151 * 160,
        "every packet, DTX included, is 20 ms"
    );
    // opusdec decodes at 48 kHz; so do we for the comparison.
    let ours = decode_all(decoder(OpusRate::Fullband).as_mut(), &packets, None);
    assert_eq!(ours.len(), 151 * 960);
    let reference = libopus_pcm();
    assert_eq!(reference.len(), 24_000);
    // opusdec drops the stream's 312-sample pre-skip (RFC 7845 §4.2); we do not (an RTP
    // stream has none), so ours lags by exactly that. Past it, every sample is libopus's: SILK
    // decoding is specified bit-exactly in fixed point (RFC 6716 §4.2), and so is its
    // upsampler to 48 kHz.
    let (delay, _) = aligned_snr(&reference, &ours, 0, 400);
    assert_eq!(delay, 312);
    let differing = reference
        .iter()
        .zip(&ours[312..])
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 0, "samples that differ from libopus");
}

#[test]
fn libopus_in_band_fec_recovers_a_lost_packet() {
    let packets = packets(NB_PACKETS);
    let full = decode_all(decoder(OpusRate::Narrowband).as_mut(), &packets, None);
    let lost = 40; // in the voiced part, whose next packet carries LBRR
    let patched = decode_all(decoder(OpusRate::Narrowband).as_mut(), &packets, Some(lost));
    let frame = lost * 160..(lost + 1) * 160;
    let (_, snr) = aligned_snr(&full[frame.clone()], &patched[frame], 0, 0);
    assert!(snr > 15.0, "FEC frame against the real one: {snr:.1} dB");
}

#[test]
fn libopus_stereo_celt_is_downmixed_at_every_rate() {
    let packets = packets(FB_STEREO_PACKETS);
    // CELT-only (configs 16-31; libopus picks super-wideband or full band), stereo flag set
    // (RFC 6716 §3.1).
    assert!(packets.iter().all(|p| p[0] >> 3 >= 16 && p[0] & 0x04 != 0));
    for (rate, hz) in [
        (OpusRate::Narrowband, 8_000),
        (OpusRate::Wideband, 16_000),
        (OpusRate::Fullband, 48_000),
    ] {
        let out = decode_all(decoder(rate).as_mut(), &packets, None);
        assert_eq!(out.len(), packets.len() * hz as usize / 50);
        let steady = &out[hz as usize / 5..];
        // Left had 440 Hz and right 1 kHz, each at 8,000 peak: a downmix (L+R)/2 has both at
        // about 4,000.
        for f in [440.0, 1_000.0] {
            let a = tone_amplitude(steady, hz, f);
            assert!((3_400.0..4_600.0).contains(&a), "{hz} Hz: {f} Hz at {a:.0}");
        }
        let off = tone_amplitude(steady, hz, 700.0);
        assert!(off < 200.0, "{hz} Hz: 700 Hz at {off:.0}");
    }
}
