//! Our G.722 (the `audio-codec` crate) against libg722, an independent implementation
//! (public domain, derived from spandsp), on 1 s of a voiced signal that libg722 coded:
//! `tests/data/make_g722_reference.sh`.
//!
//! What it shows: once past the start, the two decoders agree sample for sample, which is
//! what interworking with a G.722 phone needs. Over the first 0.2 s they do not: the crate's
//! decoder starts with its quantiser scale factors at 0 instead of G.722's reset values
//! (DETL = 32, DETH = 8), so it mis-scales the first codes and its adaptive predictors need
//! a fraction of a second to converge. This test pins the size of that transient, so that a
//! fix upstream (or a regression) shows up here.

use switchboard_media::codec::{CodecKind, CodecParams, new_decoder};

static CODES: &[u8] = include_bytes!("data/g722_libg722.codes");
static DECODED: &[u8] = include_bytes!("data/g722_libg722_decoded.s16");

#[test]
fn our_decoder_matches_libg722_after_the_start_transient() {
    let reference: Vec<i16> = DECODED
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut dec = new_decoder(CodecKind::G722, &CodecParams::default()).expect("decoder");
    let mut ours = Vec::new();
    let mut frame = [0_i16; 320];
    for payload in CODES.chunks(160) {
        let n = dec.decode(payload, &mut frame).expect("decode");
        ours.extend_from_slice(&frame[..n]);
    }
    assert_eq!(ours.len(), reference.len());
    let differ: Vec<usize> = (0..ours.len())
        .filter(|&i| ours[i] != reference[i])
        .collect();
    let last = differ.last().copied().unwrap_or(0);
    let worst = differ
        .iter()
        .map(|&i| (i32::from(ours[i]) - i32::from(reference[i])).abs())
        .max()
        .unwrap_or(0);
    // Measured: 3,051 samples differ, the last at 3,386 (0.21 s), by up to 1,040 (-30 dBFS).
    // From there on the two are identical: the algorithm is the same, only the start differs.
    assert!(last < 3_400, "still differing at sample {last}");
    assert!(ours[3_400..] == reference[3_400..]);
    // The transient is the crate's initial-state bug, not noise: when it is fixed upstream
    // this fails, and the bounds above can become "identical from the first sample".
    assert!((100..=1_040).contains(&worst), "worst difference {worst}");
}
