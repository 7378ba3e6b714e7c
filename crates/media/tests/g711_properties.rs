//! G.711 invariants: round trips stay within a quantisation step, codes survive a round trip,
//! frame functions agree with the per-sample ones and reject mismatched lengths.

use proptest::prelude::*;
use switchboard_media::g711::{G711Error, SAMPLES_PER_20MS, alaw, ulaw};

/// Quantisation step (16-bit units) of the A-law segment `code` belongs to: 16 in segments 0
/// and 1, doubling from there (G.711 Table 1a).
fn alaw_step(code: u8) -> i32 {
    let seg = i32::from(((code ^ 0x55) >> 4) & 7);
    16 << (seg.max(1) - 1)
}

/// Quantisation step (16-bit units) of the µ-law segment `code` belongs to: 8, doubling per
/// segment (G.711 Table 2a).
fn ulaw_step(code: u8) -> i32 {
    8 << i32::from((!code >> 4) & 7)
}

#[test]
fn alaw_round_trip_error_is_at_most_half_a_step_on_all_inputs() {
    for x in i16::MIN..=i16::MAX {
        let code = alaw::encode(x);
        let err = (i32::from(alaw::decode(code)) - i32::from(x)).abs();
        // The decoder returns the middle of the interval: half a step, no more.
        assert!(
            err <= alaw_step(code) / 2,
            "x={x} code={code:#04x} err={err}"
        );
    }
}

#[test]
fn ulaw_round_trip_error_is_within_a_step_on_all_inputs() {
    // µ-law overload point: 8159 in Table 2a's 14-bit scale; beyond it the coder saturates.
    const OVERLOAD: i32 = 8_159 * 4;
    for x in i16::MIN..=i16::MAX {
        let code = ulaw::encode(x);
        let step = ulaw_step(code);
        let err = (i32::from(ulaw::decode(code)) - i32::from(x)).abs();
        assert!(err <= step, "x={x} code={code:#04x} err={err}");
        let magnitude = if x < 0 { i32::from(!x) } else { i32::from(x) };
        if magnitude < OVERLOAD {
            // Inside the range the error is at most half a step (+1 for the −½ LSB symmetry).
            assert!(err <= step / 2 + 1, "x={x} code={code:#04x} err={err}");
        }
    }
}

#[test]
fn alaw_every_code_survives_decode_then_encode() {
    for code in 0..=u8::MAX {
        assert_eq!(alaw::encode(alaw::decode(code)), code, "code {code:#04x}");
    }
}

#[test]
fn ulaw_every_code_but_negative_zero_survives_decode_then_encode() {
    for code in 0..=u8::MAX {
        let back = ulaw::encode(ulaw::decode(code));
        if code == 0x7F {
            // µ-law has two zeros: 0x7F (−0) and 0xFF (+0) both decode to 0, and 0 encodes as
            // +0. −0 is only produced for samples −4..=−1; it cannot survive a trip through 0.
            assert_eq!(back, 0xFF);
        } else {
            assert_eq!(back, code, "code {code:#04x}");
        }
    }
}

#[test]
fn mismatched_frame_lengths_are_typed_errors_and_leave_output_untouched() {
    let pcm = [1000_i16; SAMPLES_PER_20MS];
    let mut short = [0xAB_u8; 80];
    let expected = Err(G711Error::LengthMismatch {
        input: 160,
        output: 80,
    });
    assert_eq!(alaw::encode_frame(&pcm, &mut short), expected);
    assert_eq!(ulaw::encode_frame(&pcm, &mut short), expected);
    assert!(short.iter().all(|&b| b == 0xAB));

    let codes = [0xD5_u8; 10];
    let mut long = [7_i16; 11];
    let expected = Err(G711Error::LengthMismatch {
        input: 10,
        output: 11,
    });
    assert_eq!(alaw::decode_frame(&codes, &mut long), expected);
    assert_eq!(ulaw::decode_frame(&codes, &mut long), expected);
    assert!(long.iter().all(|&s| s == 7));
    assert_eq!(
        G711Error::LengthMismatch {
            input: 10,
            output: 11
        }
        .to_string(),
        "G.711 frame length mismatch: 10 input items for 11 output slots"
    );
}

#[test]
fn empty_frames_are_fine() {
    assert_eq!(alaw::encode_frame(&[], &mut []), Ok(()));
    assert_eq!(ulaw::decode_frame(&[], &mut []), Ok(()));
}

proptest! {
    #[test]
    fn frame_functions_agree_with_per_sample_ones(pcm in proptest::collection::vec(any::<i16>(), 0..400)) {
        let mut a = vec![0_u8; pcm.len()];
        let mut u = vec![0_u8; pcm.len()];
        alaw::encode_frame(&pcm, &mut a).unwrap();
        ulaw::encode_frame(&pcm, &mut u).unwrap();
        let mut a_back = vec![0_i16; pcm.len()];
        let mut u_back = vec![0_i16; pcm.len()];
        alaw::decode_frame(&a, &mut a_back).unwrap();
        ulaw::decode_frame(&u, &mut u_back).unwrap();
        for (i, &x) in pcm.iter().enumerate() {
            prop_assert_eq!(a[i], alaw::encode(x));
            prop_assert_eq!(u[i], ulaw::encode(x));
            prop_assert_eq!(a_back[i], alaw::decode(a[i]));
            prop_assert_eq!(u_back[i], ulaw::decode(u[i]));
        }
    }

    #[test]
    fn any_length_mismatch_is_rejected(n in 0_usize..400, m in 0_usize..400) {
        prop_assume!(n != m);
        let pcm = vec![0_i16; n];
        let mut out = vec![0_u8; m];
        prop_assert_eq!(
            ulaw::encode_frame(&pcm, &mut out),
            Err(G711Error::LengthMismatch { input: n, output: m })
        );
    }
}
