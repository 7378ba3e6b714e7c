//! Codec invariants under arbitrary input: no decoder panics on any payload (they come from the
//! network), results stay within the documented bounds, encoders never exceed
//! `MAX_PAYLOAD_BYTES`, and the Opus fmtp parser never panics and round-trips what it writes.

use proptest::prelude::*;
use switchboard_media::codec::{
    CodecError, CodecKind, CodecParams, MAX_FRAME_SAMPLES, MAX_PAYLOAD_BYTES, OpusFmtp, OpusRate,
    new_decoder, new_encoder, parse_opus_fmtp,
};

/// Every decoder configuration we can build.
fn configs() -> Vec<(CodecKind, CodecParams)> {
    let mut v: Vec<(CodecKind, CodecParams)> = [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::G722]
        .into_iter()
        .map(|k| (k, CodecParams::default()))
        .collect();
    for rate in [OpusRate::Narrowband, OpusRate::Wideband, OpusRate::Fullband] {
        v.push((
            CodecKind::Opus,
            CodecParams {
                opus_rate: rate,
                ..CodecParams::default()
            },
        ));
    }
    v
}

/// What a decoder may do with garbage: decode it, call it corrupt, or find the buffer short.
fn acceptable(r: &Result<usize, CodecError>, out_len: usize) -> bool {
    match r {
        Ok(n) => *n <= out_len,
        Err(CodecError::CorruptPayload { .. } | CodecError::OutputTooSmall { .. }) => true,
        Err(_) => false,
    }
}

/// An Opus-looking payload: a valid or invalid TOC followed by random octets, so the fuzzing
/// reaches past the TOC checks into SILK, hybrid and CELT decoding.
fn opusish() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..400),
    )
        .prop_map(|(toc, count, rest)| {
            let mut p = vec![toc, count];
            p.extend(rest);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_decoder_panics_on_any_payload(
        payloads in prop::collection::vec(
            prop_oneof![prop::collection::vec(any::<u8>(), 0..1500), opusish()], 1..6),
        out_len in prop_oneof![Just(MAX_FRAME_SAMPLES), 0..MAX_FRAME_SAMPLES],
        fec_at in any::<prop::sample::Index>(),
    ) {
        let mut out = vec![0_i16; out_len];
        for (kind, params) in configs() {
            let mut dec = new_decoder(kind, &params).expect("decoder");
            for p in &payloads {
                let r = dec.decode(p, &mut out);
                prop_assert!(acceptable(&r, out_len), "{kind}: {r:?}");
                prop_assert!(dec.conceal(&mut out) <= out_len);
            }
            let p = fec_at.get(&payloads);
            let r = dec.decode_fec(p, &mut out);
            prop_assert!(acceptable(&r, out_len), "{kind} FEC: {r:?}");
        }
    }

    #[test]
    fn a_full_size_buffer_is_always_enough(payload in opusish()) {
        let mut out = vec![0_i16; MAX_FRAME_SAMPLES];
        for (kind, params) in configs() {
            let mut dec = new_decoder(kind, &params).expect("decoder");
            let r = dec.decode(&payload[..payload.len().min(MAX_FRAME_SAMPLES / 2)], &mut out);
            prop_assert!(
                !matches!(r, Err(CodecError::OutputTooSmall { .. })),
                "{kind}: {r:?}"
            );
        }
    }

    #[test]
    fn encoders_take_any_audio_and_stay_within_the_payload_bound(
        seed in prop::collection::vec(any::<i16>(), 1..64),
        frames in 1_usize..4,
    ) {
        for (kind, params) in configs() {
            let mut enc = new_encoder(kind, &params).expect("encoder");
            let n = enc.samples_per_frame();
            let mut out = vec![0_u8; MAX_PAYLOAD_BYTES];
            for f in 0..frames {
                // Arbitrary audio, full scale included: the seed repeated and shifted.
                let pcm: Vec<i16> = (0..n).map(|i| seed[(i + f) % seed.len()]).collect();
                let len = enc.encode(&pcm, &mut out).expect("encode");
                prop_assert!(len > 0 && len <= MAX_PAYLOAD_BYTES, "{kind}: {len}");
            }
        }
    }

    #[test]
    fn fmtp_parser_never_panics(s in ".{0,200}") {
        let _ = parse_opus_fmtp(&s);
    }

    #[test]
    fn fmtp_round_trips(
        max_playback_rate in 8_000_u32..=48_000,
        sprop_max_capture_rate in 8_000_u32..=48_000,
        max_average_bitrate in prop::option::of(6_000_u32..=510_000),
        flags in any::<[bool; 5]>(),
        ptime in prop::option::of(1_u32..=120),
        min_ptime in 1_u32..=120,
        max_ptime in 1_u32..=120,
    ) {
        let f = OpusFmtp {
            max_playback_rate,
            sprop_max_capture_rate,
            max_average_bitrate,
            stereo: flags[0],
            sprop_stereo: flags[1],
            cbr: flags[2],
            use_inband_fec: flags[3],
            use_dtx: flags[4],
            ptime,
            min_ptime,
            max_ptime,
        };
        prop_assert_eq!(parse_opus_fmtp(&f.to_fmtp_string()), f);
    }
}
