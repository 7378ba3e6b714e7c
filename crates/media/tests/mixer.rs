//! The N-way mixer: exact sums minus self, saturation, absent parties, the supervisor modes,
//! parties leaving, and a property test against a naive reference mix.

use proptest::prelude::*;
use switchboard_media::mixer::{MAX_PARTIES, Mixer, MixerError, PartyId, SupervisorMode};

const N: usize = 160;

/// A frame whose samples differ along the frame, so a shifted or reused buffer shows.
fn ramp(base: i16) -> Vec<i16> {
    (0..N).map(|i| base + i16::try_from(i).unwrap()).collect()
}

fn sum(frames: &[&[i16]]) -> Vec<i16> {
    (0..N)
        .map(|i| {
            let s: i32 = frames.iter().map(|f| i32::from(f[i])).sum();
            i16::try_from(s.clamp(-32_768, 32_767)).unwrap()
        })
        .collect()
}

#[test]
fn each_party_hears_the_exact_sum_of_the_others() {
    let mut m = Mixer::new(N);
    let ids: Vec<PartyId> = (0..4).map(|_| m.add_party().unwrap()).collect();
    let frames: Vec<Vec<i16>> = (0..4).map(|k| ramp(1_000 * (k + 1))).collect();
    for (id, f) in ids.iter().zip(&frames) {
        m.set_input(*id, f).unwrap();
    }
    m.mix();
    for (k, id) in ids.iter().enumerate() {
        let others: Vec<&[i16]> = (0..4).filter(|&j| j != k).map(|j| &frames[j][..]).collect();
        assert_eq!(m.output(*id).unwrap(), &sum(&others)[..], "party {k}");
    }
}

#[test]
fn sums_saturate_at_the_i16_limits() {
    let mut m = Mixer::new(N);
    let ids: Vec<PartyId> = (0..3).map(|_| m.add_party().unwrap()).collect();
    m.set_input(ids[0], &[20_000; N]).unwrap();
    m.set_input(ids[1], &[20_000; N]).unwrap();
    m.set_input(ids[2], &[-20_000; N]).unwrap();
    m.mix();
    assert_eq!(m.output(ids[0]).unwrap(), &[0; N][..]);
    assert_eq!(
        m.output(ids[2]).unwrap(),
        &[32_767; N][..],
        "40,000 clamps to 32,767"
    );

    m.set_input(ids[0], &[-30_000; N]).unwrap();
    m.set_input(ids[1], &[-30_000; N]).unwrap();
    m.set_input(ids[2], &[32_767; N]).unwrap();
    m.mix();
    assert_eq!(
        m.output(ids[2]).unwrap(),
        &[-32_768; N][..],
        "-60,000 clamps to -32,768"
    );
    // Full-scale inputs that cancel out stay exact: the sum is clamped once, at the end.
    assert_eq!(m.output(ids[0]).unwrap(), &[2_767; N][..]);
}

#[test]
fn absent_parties_are_not_heard_but_still_hear() {
    let mut m = Mixer::new(N);
    let (a, b, c) = (
        m.add_party().unwrap(),
        m.add_party().unwrap(),
        m.add_party().unwrap(),
    );
    m.set_input(a, &ramp(100)).unwrap();
    m.mix();
    assert_eq!(m.output(b).unwrap(), &ramp(100)[..]);
    assert_eq!(m.output(c).unwrap(), &ramp(100)[..]);
    assert_eq!(
        m.output(a).unwrap(),
        &[0; N][..],
        "alone: hears nobody, not itself"
    );

    // Next tick nobody sends: inputs are not reused.
    m.mix();
    for p in [a, b, c] {
        assert_eq!(m.output(p).unwrap(), &[0; N][..]);
    }
}

/// Caller, agent and supervisor with constant frames 1, 10 and 100: each output names who is
/// heard.
fn supervised(mode: SupervisorMode) -> [i16; 3] {
    let mut m = Mixer::new(N);
    let (caller, agent, supervisor) = (
        m.add_party().unwrap(),
        m.add_party().unwrap(),
        m.add_party().unwrap(),
    );
    m.supervise(caller, agent, supervisor, mode).unwrap();
    m.set_input(caller, &[1; N]).unwrap();
    m.set_input(agent, &[10; N]).unwrap();
    m.set_input(supervisor, &[100; N]).unwrap();
    m.mix();
    [caller, agent, supervisor].map(|p| {
        let out = m.output(p).unwrap();
        assert!(out.iter().all(|&s| s == out[0]));
        out[0]
    })
}

#[test]
fn supervisor_modes_set_who_hears_whom() {
    // [caller hears, agent hears, supervisor hears]
    assert_eq!(supervised(SupervisorMode::Listen), [10, 1, 11]);
    assert_eq!(supervised(SupervisorMode::Whisper), [10, 101, 11]);
    assert_eq!(supervised(SupervisorMode::Barge), [110, 101, 11]);
}

#[test]
fn modes_can_change_mid_call_and_leave_others_alone() {
    let mut m = Mixer::new(N);
    let (caller, agent, supervisor, other) = (
        m.add_party().unwrap(),
        m.add_party().unwrap(),
        m.add_party().unwrap(),
        m.add_party().unwrap(),
    );
    m.supervise(caller, agent, supervisor, SupervisorMode::Listen)
        .unwrap();
    assert!(!m.hears(agent, supervisor).unwrap());
    m.supervise(caller, agent, supervisor, SupervisorMode::Whisper)
        .unwrap();
    assert!(m.hears(agent, supervisor).unwrap());
    assert!(!m.hears(caller, supervisor).unwrap());
    m.supervise(caller, agent, supervisor, SupervisorMode::Listen)
        .unwrap();
    assert!(!m.hears(agent, supervisor).unwrap());
    // A fourth party's relations are untouched.
    assert!(m.hears(other, supervisor).unwrap());
    assert!(m.hears(supervisor, other).unwrap());
    // Self-hearing is refused silently.
    m.set_hears(caller, caller, true).unwrap();
    assert!(!m.hears(caller, caller).unwrap());
}

#[test]
fn parties_leave_and_stale_ids_are_refused() {
    let mut m = Mixer::new(N);
    let (a, b, c) = (
        m.add_party().unwrap(),
        m.add_party().unwrap(),
        m.add_party().unwrap(),
    );
    m.remove_party(b).unwrap();
    assert_eq!(m.remove_party(b), Err(MixerError::UnknownParty(b)));
    assert_eq!(m.set_input(b, &[0; N]), Err(MixerError::UnknownParty(b)));
    assert_eq!(m.party_count(), 2);
    // The slot is reused, but the old id does not reach the newcomer.
    let d = m.add_party().unwrap();
    assert_ne!(b, d);
    assert_eq!(m.output(b), Err(MixerError::UnknownParty(b)));
    m.set_input(a, &[5; N]).unwrap();
    m.set_input(c, &[7; N]).unwrap();
    m.set_input(d, &[11; N]).unwrap();
    m.mix();
    assert_eq!(m.output(a).unwrap()[0], 18);
    assert_eq!(m.output(d).unwrap()[0], 12);
    assert_eq!(
        m.set_input(a, &[0; 80]),
        Err(MixerError::FrameLength {
            expected: N,
            got: 80
        })
    );
}

/// A tick described for the property test: per party an optional frame, and a hears-matrix.
#[derive(Debug, Clone)]
struct Tick {
    frames: Vec<Option<Vec<i16>>>,
    hears: Vec<Vec<bool>>,
}

fn tick_strategy() -> impl Strategy<Value = Tick> {
    (1_usize..12).prop_flat_map(|n| {
        let frame = prop::collection::vec(any::<i16>(), 8);
        (
            prop::collection::vec(prop::option::weighted(0.8, frame), n),
            prop::collection::vec(prop::collection::vec(prop::bool::weighted(0.7), n), n),
        )
            .prop_map(|(frames, hears)| Tick { frames, hears })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the matrix, presence and samples, every output is the clamped sum of the
    /// present parties its row allows, never including itself.
    #[test]
    fn mix_equals_the_naive_reference(tick in tick_strategy(), everyone in any::<bool>()) {
        let n = tick.frames.len();
        let mut m = Mixer::new(8);
        let ids: Vec<PartyId> = (0..n).map(|_| m.add_party().unwrap()).collect();
        for (l, row) in tick.hears.iter().enumerate() {
            for (s, &h) in row.iter().enumerate() {
                m.set_hears(ids[l], ids[s], h || everyone).unwrap();
            }
        }
        for (id, frame) in ids.iter().zip(&tick.frames) {
            if let Some(f) = frame {
                m.set_input(*id, f).unwrap();
            }
        }
        m.mix();
        for (l, id) in ids.iter().enumerate() {
            let expected: Vec<i16> = (0..8)
                .map(|k| {
                    let s: i32 = (0..n)
                        .filter(|&s| s != l && (tick.hears[l][s] || everyone))
                        .filter_map(|s| tick.frames[s].as_ref().map(|f| i32::from(f[k])))
                        .sum();
                    i16::try_from(s.clamp(-32_768, 32_767)).unwrap()
                })
                .collect();
            prop_assert_eq!(m.output(*id).unwrap(), &expected[..], "listener {}", l);
        }
    }
}

#[test]
fn a_full_conference_of_64() {
    let mut m = Mixer::new(N);
    let ids: Vec<PartyId> = (0..MAX_PARTIES).map(|_| m.add_party().unwrap()).collect();
    for (k, id) in ids.iter().enumerate() {
        m.set_input(*id, &[i16::try_from(k).unwrap(); N]).unwrap();
    }
    m.mix();
    let total: i16 = (0..64).sum();
    for (k, id) in ids.iter().enumerate() {
        assert_eq!(m.output(*id).unwrap()[0], total - i16::try_from(k).unwrap());
    }
}
