//! The call recorder in normal operation: exact header bytes, files read back sample-exact with
//! hound, silence for missing sides and pauses, checkpoints, the voicemail length limit, and
//! codec-rate changes that keep both channels aligned. Faults and crashes: `recorder_faults.rs`.

use std::f64::consts::TAU;
use std::io::Cursor;
use std::time::Duration;

use switchboard_media::recorder::{
    MonoRecorder, PauseEvent, PauseMark, RecorderConfig, RecorderError, RecorderState,
    RecordingChannel, RecordingRate, Side, StereoRecorder, WriteOutcome, header,
};

const NARROW: RecorderConfig = RecorderConfig::new(RecordingRate::Narrowband);
const WIDE: RecorderConfig = RecorderConfig::new(RecordingRate::Wideband);

/// Reads a WAV file with hound: (channels, rate, interleaved samples).
fn read_back(bytes: &[u8]) -> (u16, u32, Vec<i16>) {
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).expect("a valid WAV file");
    let spec = reader.spec();
    assert_eq!(spec.bits_per_sample, 16);
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let samples = reader
        .samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (spec.channels, spec.sample_rate, samples)
}

/// A frame whose samples say which tick and side they belong to.
fn tagged(tick: usize, side: i16, len: usize) -> Vec<i16> {
    (0..len)
        .map(|i| side * 10_000 + i16::try_from((tick * 7 + i) % 5_000).unwrap())
        .collect()
}

#[test]
fn header_bytes_are_the_canonical_44() {
    let rec = StereoRecorder::create(Cursor::new(Vec::new()), NARROW).unwrap();
    let bytes = rec.finish().unwrap().writer.into_inner();
    #[rustfmt::skip]
    let expected: [u8; 44] = [
        b'R', b'I', b'F', b'F', 36, 0, 0, 0, b'W', b'A', b'V', b'E',
        b'f', b'm', b't', b' ', 16, 0, 0, 0,
        1, 0,                   // PCM
        2, 0,                   // channels
        0x40, 0x1F, 0, 0,       // 8000 Hz
        0x00, 0x7D, 0, 0,       // 32000 bytes/s
        4, 0,                   // block align
        16, 0,                  // bits per sample
        b'd', b'a', b't', b'a', 0, 0, 0, 0,
    ];
    assert_eq!(bytes, expected);

    // Mono 16 kHz with one second of audio: 32000 data bytes, 32036 RIFF size.
    let h = header(1, 16_000, 32_000);
    assert_eq!(&h[4..8], &32_036_u32.to_le_bytes());
    assert_eq!(&h[22..24], &[1, 0]);
    assert_eq!(&h[24..28], &16_000_u32.to_le_bytes());
    assert_eq!(&h[28..32], &32_000_u32.to_le_bytes());
    assert_eq!(&h[32..34], &[2, 0]);
    assert_eq!(&h[40..44], &32_000_u32.to_le_bytes());
}

#[test]
fn stereo_file_reads_back_sample_exact_with_caller_left_agent_right() {
    for config in [NARROW, WIDE] {
        let n = config.rate.frame_samples();
        let mut rec = StereoRecorder::create(Cursor::new(Vec::new()), config).unwrap();
        let ticks = 173; // not a whole number of checkpoints
        for t in 0..ticks {
            rec.write_frame(Some(&tagged(t, 1, n)), Some(&tagged(t, -1, n)))
                .unwrap();
        }
        let done = rec.finish().unwrap();
        assert!(done.complete);
        assert_eq!(done.stats.frames, ticks as u64);
        assert!((done.stats.seconds - 3.46).abs() < 1e-9);
        let (channels, rate, samples) = read_back(&done.writer.into_inner());
        assert_eq!((channels, rate), (2, config.rate.hz()));
        let expected: Vec<i16> = (0..ticks)
            .flat_map(|t| {
                let (l, r) = (tagged(t, 1, n), tagged(t, -1, n));
                (0..n).flat_map(move |i| [l[i], r[i]])
            })
            .collect();
        assert_eq!(samples, expected);
    }
}

#[test]
fn a_missing_side_is_silence_and_the_channels_never_shift() {
    let n = 160;
    let mut rec = StereoRecorder::create(Cursor::new(Vec::new()), NARROW).unwrap();
    // Ringing: only the caller. Talking: both, with agent packet loss on tick 5.
    for t in 0..10 {
        let caller = tagged(t, 1, n);
        let agent = tagged(t, -1, n);
        let agent = (t >= 3 && t != 5).then_some(&agent[..]);
        rec.write_frame(Some(&caller), agent).unwrap();
    }
    rec.write_frame(None, None).unwrap();
    let (_, _, samples) = read_back(&rec.finish().unwrap().writer.into_inner());
    assert_eq!(samples.len(), 11 * n * 2);
    for (t, frame) in samples.chunks(2 * n).enumerate() {
        let left: Vec<i16> = frame.iter().step_by(2).copied().collect();
        let right: Vec<i16> = frame.iter().skip(1).step_by(2).copied().collect();
        let silent = vec![0; n];
        assert_eq!(
            left,
            if t < 10 {
                tagged(t, 1, n)
            } else {
                silent.clone()
            }
        );
        let agent_spoke = (3..10).contains(&t) && t != 5;
        assert_eq!(
            right,
            if agent_spoke {
                tagged(t, -1, n)
            } else {
                silent
            }
        );
    }
}

#[test]
fn a_wrong_frame_length_is_refused_without_writing() {
    let mut rec = StereoRecorder::create(Cursor::new(Vec::new()), NARROW).unwrap();
    assert_eq!(
        rec.write_frame(Some(&[0; 160]), Some(&[0; 320])),
        Err(RecorderError::FrameLength {
            side: Side::Agent,
            expected: 160,
            got: 320
        })
    );
    assert_eq!(rec.state(), RecorderState::Recording);
    assert_eq!(rec.stats().frames, 0);
    let mut mono = MonoRecorder::create(Cursor::new(Vec::new()), WIDE).unwrap();
    assert!(matches!(
        mono.write_frame(Some(&[0; 160])),
        Err(RecorderError::FrameLength {
            side: Side::Caller,
            expected: 320,
            got: 160
        })
    ));
}

#[test]
fn checkpoints_come_every_second_or_as_configured() {
    let mut rec = StereoRecorder::create(Cursor::new(Vec::new()), NARROW).unwrap();
    let frame = [1_i16; 160];
    for t in 1..=120 {
        let outcome = rec.write_frame(Some(&frame), Some(&frame)).unwrap();
        let expected = if t % 50 == 0 {
            WriteOutcome::Checkpointed
        } else {
            WriteOutcome::Buffered
        };
        assert_eq!(outcome, expected, "tick {t}");
    }
    // What the writer holds right now is a valid file of the first 100 ticks.
    let (_, _, samples) = read_back(rec.get_ref().get_ref());
    assert_eq!(samples.len(), 100 * 160 * 2);
    assert!((rec.stats().checkpointed_seconds - 2.0).abs() < 1e-9);
    rec.checkpoint().unwrap();
    assert!((rec.stats().checkpointed_seconds - 2.4).abs() < 1e-9);

    let config = RecorderConfig {
        checkpoint_frames: 10,
        ..WIDE
    };
    let mut rec = MonoRecorder::create(Cursor::new(Vec::new()), config).unwrap();
    let outcomes: Vec<_> = (0..20).map(|_| rec.write_frame(None).unwrap()).collect();
    assert_eq!(outcomes[9], WriteOutcome::Checkpointed);
    assert_eq!(outcomes[19], WriteOutcome::Checkpointed);
    assert_eq!(
        outcomes
            .iter()
            .filter(|&&o| o == WriteOutcome::Checkpointed)
            .count(),
        2
    );

    // "At least every second": a longer interval is capped at 50 ticks.
    let lazy = RecorderConfig {
        checkpoint_frames: 10_000,
        ..NARROW
    };
    let mut rec = MonoRecorder::create(Cursor::new(Vec::new()), lazy).unwrap();
    let outcomes: Vec<_> = (0..50).map(|_| rec.write_frame(None).unwrap()).collect();
    assert_eq!(outcomes[49], WriteOutcome::Checkpointed);
}

#[test]
fn pause_writes_silence_and_reports_both_transitions() {
    let mut rec = StereoRecorder::create(Cursor::new(Vec::new()), NARROW).unwrap();
    let mut marks = Vec::new();
    for t in 0..30 {
        if t == 10 {
            marks.push(rec.pause().unwrap());
            assert_eq!(rec.pause(), None, "already paused");
        }
        if t == 20 {
            marks.push(rec.resume().unwrap());
            assert_eq!(rec.resume(), None, "not paused");
        }
        rec.write_frame(Some(&tagged(t, 1, 160)), Some(&tagged(t, -1, 160)))
            .unwrap();
    }
    assert_eq!(
        marks,
        [
            PauseMark {
                event: PauseEvent::Paused,
                offset: Duration::from_millis(200)
            },
            PauseMark {
                event: PauseEvent::Resumed,
                offset: Duration::from_millis(400)
            },
        ]
    );
    let done = rec.finish().unwrap();
    assert!((done.stats.paused_seconds - 0.2).abs() < 1e-9);
    assert!((done.stats.seconds - 0.6).abs() < 1e-9);
    let (_, _, samples) = read_back(&done.writer.into_inner());
    assert_eq!(
        samples.len(),
        30 * 320,
        "the timeline still matches the call"
    );
    for (t, frame) in samples.chunks(320).enumerate() {
        let paused = (10..20).contains(&t);
        assert_eq!(frame.iter().all(|&s| s == 0), paused, "tick {t}");
    }
}

#[test]
fn voicemail_stops_at_its_maximum_length() {
    let config = RecorderConfig {
        max_duration: Some(Duration::from_secs(2)),
        ..NARROW
    };
    let mut rec = MonoRecorder::create(Cursor::new(Vec::new()), config).unwrap();
    let frame = [123_i16; 160];
    let outcomes: Vec<_> = (0..110)
        .map(|_| rec.write_frame(Some(&frame)).unwrap())
        .collect();
    assert_eq!(outcomes[99], WriteOutcome::LimitReached);
    assert!(outcomes[100..].iter().all(|&o| o == WriteOutcome::Dropped));
    assert_eq!(rec.state(), RecorderState::Full);
    assert_eq!(rec.pause(), None);
    let done = rec.finish().unwrap();
    assert!(done.complete);
    assert_eq!(done.stats.dropped_frames, 10);
    let (channels, _, samples) = read_back(&done.writer.into_inner());
    assert_eq!(channels, 1);
    assert_eq!(samples, vec![123; 100 * 160]);
}

/// A 400 Hz sine on a clock shared by all rates: sample `n` of tick `t` at `rate`.
fn tone_frame(tick: usize, rate: u32) -> Vec<i16> {
    let n = rate as usize / 50;
    (0..n)
        .map(|i| {
            let t = tick as f64 * 0.02 + i as f64 / f64::from(rate);
            (8_000.0 * (TAU * 400.0 * t).sin()).round() as i16
        })
        .collect()
}

#[test]
fn codec_rate_changes_keep_both_channels_aligned() {
    // The caller's leg is re-INVITEd PCMA → G.722 → Opus → PCMA; the agent stays on G.722.
    let schedule = |t: usize| match t {
        0..50 => 8_000,
        50..100 => 16_000,
        100..150 => 48_000,
        _ => 8_000,
    };
    let ticks = 200;
    let mut rec = StereoRecorder::create(Cursor::new(Vec::new()), WIDE).unwrap();
    let mut caller = RecordingChannel::new(RecordingRate::Wideband, Side::Caller);
    let mut agent = RecordingChannel::new(RecordingRate::Wideband, Side::Agent);
    for t in 0..ticks {
        let left = caller
            .process(Some((&tone_frame(t, schedule(t)), schedule(t))))
            .unwrap();
        let left = left.to_vec();
        let right = agent
            .process(Some((&tone_frame(t, 16_000), 16_000)))
            .unwrap();
        rec.write_frame(Some(&left), Some(right)).unwrap();
    }
    assert_eq!(caller.rate_changes(), 3);
    assert_eq!(caller.input_rate(), Some(8_000));
    let (_, _, samples) = read_back(&rec.finish().unwrap().writer.into_inner());
    // Total samples = ticks × frame, per channel.
    assert_eq!(samples.len(), ticks * 320 * 2);
    let left: Vec<i32> = samples.iter().step_by(2).map(|&s| i32::from(s)).collect();
    let right: Vec<i32> = samples
        .iter()
        .skip(1)
        .step_by(2)
        .map(|&s| i32::from(s))
        .collect();

    // Both sides carry the same tone with the same 10 ms delay, so they match sample for
    // sample: within 2 LSB in steady state (measured: 2), and at each seam without gap or
    // jump — the filter rings for a few milliseconds (measured: 225 LSB at worst, 3 % of the
    // tone's amplitude). Dropping the old converter's 10 ms tail instead would differ by the
    // full 8000 LSB over 160 samples; a half-frame shift likewise.
    let seams = [50 * 320, 100 * 320, 150 * 320];
    let near_seam = |i: usize| seams.iter().any(|&s| i.abs_diff(s + 160) < 80);
    let mut worst_steady = 0;
    let mut worst_seam = 0;
    for i in 320..left.len() {
        let d = (left[i] - right[i]).abs();
        if near_seam(i) {
            worst_seam = worst_seam.max(d);
        } else {
            worst_steady = worst_steady.max(d);
        }
    }
    assert!(
        worst_steady <= 2,
        "steady-state difference {worst_steady} LSB"
    );
    assert!(
        worst_seam <= 400,
        "difference at a rate change {worst_seam} LSB (of 8000)"
    );
}

#[test]
fn a_recording_channel_outputs_silence_on_bad_input_and_keeps_going() {
    let mut channel = RecordingChannel::new(RecordingRate::Narrowband, Side::Agent);
    assert_eq!(channel.process(None).unwrap(), &[0; 160][..]);
    assert_eq!(
        channel.process(Some((&[1; 100], 8_000))),
        Err(RecorderError::FrameLength {
            side: Side::Agent,
            expected: 160,
            got: 100
        })
    );
    assert!(matches!(
        channel.process(Some((&[1; 220], 11_025))),
        Err(RecorderError::Resample(_))
    ));
    // Same rate: delayed by half a frame, exactly.
    let a: Vec<i16> = (1..=160).collect();
    let b: Vec<i16> = (161..=320).collect();
    let first = channel.process(Some((&a, 8_000))).unwrap().to_vec();
    assert_eq!(&first[..80], &[0; 80][..]);
    assert_eq!(&first[80..], &a[..80]);
    let second = channel.process(Some((&b, 8_000))).unwrap().to_vec();
    assert_eq!(&second[..80], &a[80..]);
    assert_eq!(&second[80..], &b[..80]);
    // A missing frame drains the held half frame, then silence; so does a bad one.
    let third = channel.process(None).unwrap().to_vec();
    assert_eq!(&third[..80], &b[80..]);
    assert_eq!(&third[80..], &[0; 80][..]);
    channel.process(Some((&a, 8_000))).unwrap();
    assert!(channel.process(Some((&a[..159], 8_000))).is_err());
    assert_eq!(&channel.last_output()[..80], &a[80..]);
    assert_eq!(&channel.last_output()[80..], &[0; 80][..]);
}

#[test]
fn a_zero_length_limit_records_nothing() {
    let config = RecorderConfig {
        max_duration: Some(Duration::ZERO),
        ..NARROW
    };
    let mut rec = MonoRecorder::create(Cursor::new(Vec::new()), config).unwrap();
    assert_eq!(rec.write_frame(None), Ok(WriteOutcome::Dropped));
    assert_eq!(rec.state(), RecorderState::Full);
    let (_, _, samples) = read_back(&rec.finish().unwrap().writer.into_inner());
    assert!(samples.is_empty());
}

#[test]
fn a_real_file_is_readable_while_being_recorded() {
    let path =
        std::env::temp_dir().join(format!("switchboard-recorder-{}.wav", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let mut rec = StereoRecorder::create(file, NARROW).unwrap();
    let frame = tagged(0, 1, 160);
    for _ in 0..75 {
        rec.write_frame(Some(&frame), None).unwrap();
    }
    // Another reader (as a player would after a crash) sees the first checkpoint: 1 s.
    let bytes = std::fs::read(&path).unwrap();
    let (_, _, samples) = read_back(&bytes);
    assert_eq!(samples.len(), 50 * 320);
    drop(rec); // dropped without finish, like a crash: still the same valid file
    let (_, _, after_drop) = read_back(&std::fs::read(&path).unwrap());
    assert_eq!(after_drop, samples);
    std::fs::remove_file(&path).unwrap();
}
