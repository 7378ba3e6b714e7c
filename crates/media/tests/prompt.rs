//! Prompt decoding and playback: every accepted WAV layout (written in memory with hound)
//! decodes to the expected samples, bad files give the admin-facing error they should, hostile
//! bytes never panic, and playback hands out exact frames, loops seamlessly and keeps its place.

use std::f64::consts::TAU;
use std::io::Cursor;
use std::time::Duration;

use hound::{SampleFormat, WavSpec, WavWriter};
use proptest::prelude::*;
use switchboard_media::prompt::{
    BEEP_MS, Gain, MAX_PROMPT_SECONDS, Playback, PlaybackPosition, PlaybackState, Prompt,
    PromptError,
};

fn spec(channels: u16, sample_rate: u32, bits: u16, format: SampleFormat) -> WavSpec {
    WavSpec {
        channels,
        sample_rate,
        bits_per_sample: bits,
        sample_format: format,
    }
}

/// A WAV file in memory with integer samples (interleaved).
fn wav_int(spec: WavSpec, samples: &[i32]) -> Cursor<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut buf, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    buf.set_position(0);
    buf
}

/// A WAV file in memory with float samples (interleaved).
fn wav_float(spec: WavSpec, samples: &[f32]) -> Cursor<Vec<u8>> {
    let mut buf = Cursor::new(Vec::new());
    let mut w = WavWriter::new(&mut buf, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
    buf.set_position(0);
    buf
}

/// A RIFF/WAVE file assembled by hand from chunks, for layouts hound will not write.
fn riff(chunks: &[(&[u8; 4], &[u8])]) -> Cursor<Vec<u8>> {
    let mut body = b"WAVE".to_vec();
    for (id, data) in chunks {
        body.extend_from_slice(*id);
        body.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        body.extend_from_slice(data);
    }
    let mut file = b"RIFF".to_vec();
    file.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    file.extend_from_slice(&body);
    Cursor::new(file)
}

/// A 16-byte fmt chunk body.
fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let block = channels * bits.div_ceil(8);
    let mut v = Vec::new();
    v.extend_from_slice(&tag.to_le_bytes());
    v.extend_from_slice(&channels.to_le_bytes());
    v.extend_from_slice(&rate.to_le_bytes());
    v.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    v.extend_from_slice(&block.to_le_bytes());
    v.extend_from_slice(&bits.to_le_bytes());
    v
}

/// A ramp covering most of the 16-bit range, in steps that are not a power of two.
fn ramp16(len: usize) -> Vec<i16> {
    (0..len)
        .map(|i| i16::try_from((i as i32 * 257) % 65_536 - 32_768).unwrap())
        .collect()
}

#[test]
fn mono_16_bit_at_the_target_rate_decodes_sample_exact() {
    for rate in [8_000, 16_000] {
        let pcm = ramp16(1_000);
        let wide: Vec<i32> = pcm.iter().map(|&s| i32::from(s)).collect();
        let prompt =
            Prompt::from_wav(wav_int(spec(1, rate, 16, SampleFormat::Int), &wide), rate).unwrap();
        assert_eq!(prompt.samples(), &pcm[..]);
        assert_eq!(prompt.sample_rate(), rate);
        assert_eq!(
            prompt.duration(),
            Duration::from_micros(1_000 * 1_000_000 / u64::from(rate))
        );
    }
}

#[test]
fn eight_bit_samples_are_scaled_up_exactly() {
    let bytes: Vec<i32> = (-128..128).collect();
    let prompt =
        Prompt::from_wav(wav_int(spec(1, 8_000, 8, SampleFormat::Int), &bytes), 8_000).unwrap();
    let expected: Vec<i16> = (-128_i16..128).map(|v| v << 8).collect();
    assert_eq!(prompt.samples(), &expected[..]);
}

#[test]
fn wide_integer_samples_keep_their_top_16_bits() {
    let values = [-8_388_608, -1, 0, 0x12_3456, 8_388_607];
    let prompt = Prompt::from_wav(
        wav_int(spec(1, 8_000, 24, SampleFormat::Int), &values),
        8_000,
    )
    .unwrap();
    assert_eq!(prompt.samples(), &[i16::MIN, -1, 0, 0x1234, i16::MAX]);

    let values = [i32::MIN, -65_536, 0x1234_5678, i32::MAX];
    let prompt = Prompt::from_wav(
        wav_int(spec(1, 8_000, 32, SampleFormat::Int), &values),
        8_000,
    )
    .unwrap();
    assert_eq!(prompt.samples(), &[i16::MIN, -1, 0x1234, i16::MAX]);
}

#[test]
fn float_samples_round_trip_and_saturate() {
    let pcm = ramp16(500);
    let mut floats: Vec<f32> = pcm.iter().map(|&s| f32::from(s) / 32_768.0).collect();
    floats.extend([1.0, 1.5, -2.0, f32::NAN]);
    let prompt = Prompt::from_wav(
        wav_float(spec(1, 8_000, 32, SampleFormat::Float), &floats),
        8_000,
    )
    .unwrap();
    assert_eq!(&prompt.samples()[..500], &pcm[..]);
    assert_eq!(&prompt.samples()[500..], &[i16::MAX, i16::MAX, i16::MIN, 0]);
}

#[test]
fn channels_are_averaged() {
    // Stereo: (L + R) / 2, rounded toward zero.
    let stereo = [1_000, 3_000, -32_768, -32_768, 32_767, 32_767, 5, -8, -7, 0];
    let prompt = Prompt::from_wav(
        wav_int(spec(2, 8_000, 16, SampleFormat::Int), &stereo),
        8_000,
    )
    .unwrap();
    assert_eq!(prompt.samples(), &[2_000, -32_768, 32_767, -1, -3]);

    // Three channels (hound writes WAVE_FORMAT_EXTENSIBLE for these) at 24 bits.
    let three = [0x10_0000, 0x20_0000, 0x30_0000, -0x10_0000, 0, 0x10_0000];
    let prompt = Prompt::from_wav(
        wav_int(spec(3, 8_000, 24, SampleFormat::Int), &three),
        8_000,
    )
    .unwrap();
    assert_eq!(prompt.samples(), &[0x2000, 0]);
}

/// `len` samples of a `freq` Hz sine of `amplitude` at `rate`.
fn sine(freq: f64, amplitude: f64, rate: u32, len: usize) -> Vec<i16> {
    (0..len)
        .map(|n| (amplitude * (TAU * freq * n as f64 / f64::from(rate)).sin()).round() as i16)
        .collect()
}

#[test]
fn other_rates_are_converted_to_the_target_rate_in_time() {
    // A 1 kHz tone at 48 kHz stereo, 16 kHz mono and 8 kHz mono, each played to a leg at
    // another rate: the prompt has the target's length and is the same tone, sample for
    // sample within a few LSB (no delay: the converter's latency is trimmed).
    for (file_rate, channels, target) in
        [(48_000, 2, 8_000), (16_000, 1, 8_000), (8_000, 1, 16_000)]
    {
        let tone = sine(1_000.0, 12_000.0, file_rate, file_rate as usize / 2);
        let interleaved: Vec<i32> = tone
            .iter()
            .flat_map(|&s| std::iter::repeat_n(i32::from(s), usize::from(channels)))
            .collect();
        let file = wav_int(
            spec(channels, file_rate, 16, SampleFormat::Int),
            &interleaved,
        );
        let prompt = Prompt::from_wav(file, target).unwrap();
        assert_eq!(prompt.len(), target as usize / 2, "{file_rate} -> {target}");
        let ideal = sine(1_000.0, 12_000.0, target, target as usize / 2);
        let edge = target as usize / 50; // the clip's abrupt start and end ring for a frame
        let worst = prompt.samples()[edge..prompt.len() - edge]
            .iter()
            .zip(&ideal[edge..ideal.len() - edge])
            .map(|(&a, &b)| (i32::from(a) - i32::from(b)).abs())
            .max()
            .unwrap();
        assert!(worst <= 3, "{file_rate} -> {target}: off by {worst} LSB");
    }
}

#[test]
fn files_that_are_not_wav_are_named_so() {
    for bytes in [
        &b""[..],
        b"RIFF",
        b"hello, this is a text file",
        b"RIFF\0\0\0\0AVI LIST",
    ] {
        assert_eq!(
            Prompt::from_wav(Cursor::new(bytes.to_vec()), 8_000),
            Err(PromptError::NotWav),
            "{bytes:?}"
        );
    }
}

#[test]
fn compressed_encodings_are_named() {
    let ulaw = riff(&[(b"fmt ", &fmt(7, 1, 8_000, 8)), (b"data", &[0xFF; 160])]);
    let err = Prompt::from_wav(ulaw, 8_000).unwrap_err();
    assert_eq!(err, PromptError::UnsupportedEncoding { format_tag: 7 });
    assert!(err.to_string().contains("µ-law"), "{err}");

    // The tag is found even behind another chunk.
    let adpcm = riff(&[
        (b"LIST", b"INFOISFT\x04\0\0\0sox\0"),
        (b"fmt ", &fmt(2, 1, 8_000, 4)),
        (b"data", &[0; 80]),
    ]);
    assert_eq!(
        Prompt::from_wav(adpcm, 8_000),
        Err(PromptError::UnsupportedEncoding { format_tag: 2 })
    );
}

#[test]
fn empty_long_truncated_and_damaged_files_are_errors() {
    let empty = wav_int(spec(1, 8_000, 16, SampleFormat::Int), &[]);
    assert_eq!(Prompt::from_wav(empty, 8_000), Err(PromptError::Empty));

    // A header announcing 601 s of 8 kHz audio is refused before anything is read (or
    // allocated), even though the data is not there.
    let frames = (MAX_PROMPT_SECONDS + 1) * 8_000;
    let mut long = riff(&[(b"fmt ", &fmt(1, 1, 8_000, 16))]).into_inner();
    long.extend_from_slice(b"data");
    long.extend_from_slice(&(frames * 2).to_le_bytes());
    assert_eq!(
        Prompt::from_wav(Cursor::new(long), 8_000),
        Err(PromptError::TooLong {
            seconds: 601,
            max_seconds: MAX_PROMPT_SECONDS
        })
    );

    // Half the announced data.
    let mut truncated = wav_int(spec(1, 8_000, 16, SampleFormat::Int), &[7; 1_000]).into_inner();
    truncated.truncate(44 + 1_000);
    assert_eq!(
        Prompt::from_wav(Cursor::new(truncated), 8_000),
        Err(PromptError::Truncated {
            expected: 1_000,
            found: 500
        })
    );

    let short_fmt = riff(&[(b"fmt ", &fmt(1, 1, 8_000, 16)[..12]), (b"data", &[0; 4])]);
    assert!(matches!(
        Prompt::from_wav(short_fmt, 8_000),
        Err(PromptError::Malformed { .. })
    ));
    let header_only = riff(&[(b"fmt ", &fmt(1, 1, 8_000, 16)[..10])]);
    assert!(matches!(
        Prompt::from_wav(header_only, 8_000),
        Err(PromptError::Malformed { .. })
    ));
}

#[test]
fn unsupported_layouts_and_rates_are_errors() {
    // WAVE_FORMAT_EXTENSIBLE with 20 valid bits in 3-byte containers.
    let mut ext = fmt(0xFFFE, 1, 8_000, 24);
    ext.extend_from_slice(&22_u16.to_le_bytes()); // cbSize
    ext.extend_from_slice(&20_u16.to_le_bytes()); // wValidBitsPerSample
    ext.extend_from_slice(&4_u32.to_le_bytes()); // dwChannelMask
    ext.extend_from_slice(&[
        1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71,
    ]);
    let file = riff(&[(b"fmt ", &ext), (b"data", &[0; 30])]);
    assert_eq!(
        Prompt::from_wav(file, 8_000),
        Err(PromptError::UnsupportedSampleFormat {
            bits: 20,
            kind: "integer"
        })
    );

    let slow = wav_int(spec(1, 4_000, 16, SampleFormat::Int), &[0; 100]);
    assert_eq!(
        Prompt::from_wav(slow, 8_000),
        Err(PromptError::UnsupportedRate { hz: 4_000 })
    );
    let fine = wav_int(spec(1, 8_000, 16, SampleFormat::Int), &[0; 100]);
    assert_eq!(
        Prompt::from_wav(fine, 1_000),
        Err(PromptError::UnsupportedRate { hz: 1_000 })
    );
}

/// A prompt of `len` samples numbered from `start` (so every sample says where it came from).
fn numbered(start: i16, len: usize) -> Prompt {
    let samples: Vec<i16> = (0..len)
        .map(|i| start + i16::try_from(i).unwrap())
        .collect();
    Prompt::from_samples(samples, 8_000).unwrap()
}

#[test]
fn playback_frames_are_exact_across_prompts_and_padded_at_the_end() {
    let a = numbered(1, 250);
    let b = numbered(1_001, 100);
    let mut playback = Playback::new(vec![a.clone(), b.clone()]).unwrap();
    let mut frame = [i16::MAX; 160];

    assert_eq!(playback.fill(&mut frame), PlaybackState::Playing);
    assert_eq!(&frame[..], &a.samples()[..160]);

    assert_eq!(playback.fill(&mut frame), PlaybackState::Playing);
    assert_eq!(&frame[..90], &a.samples()[160..]);
    assert_eq!(&frame[90..], &b.samples()[..70]);
    assert_eq!(
        playback.position(),
        PlaybackPosition {
            prompt: 1,
            offset: 70
        }
    );

    // The frame holding the last samples reports Finished, padded with silence.
    assert_eq!(playback.fill(&mut frame), PlaybackState::Finished);
    assert_eq!(&frame[..30], &b.samples()[70..]);
    assert!(frame[30..].iter().all(|&s| s == 0));

    frame.fill(i16::MAX);
    assert_eq!(playback.fill(&mut frame), PlaybackState::Finished);
    assert!(frame.iter().all(|&s| s == 0));
}

#[test]
fn a_prompt_of_whole_frames_finishes_on_its_last_frame() {
    let mut playback = Playback::new(vec![numbered(0, 320)]).unwrap();
    let mut frame = [0; 160];
    assert_eq!(playback.fill(&mut frame), PlaybackState::Playing);
    assert_eq!(playback.fill(&mut frame), PlaybackState::Finished);
    assert_eq!(frame[159], 319);
}

#[test]
fn music_on_hold_loops_seamlessly_and_keeps_its_place() {
    let tracks = vec![numbered(1, 100), numbered(2_001, 37), numbered(5_001, 250)];
    let one_pass: Vec<i16> = tracks.iter().flat_map(|t| t.samples().to_vec()).collect();
    let mut moh = Playback::looping(tracks).unwrap();
    let mut heard = Vec::new();
    let mut frame = [0; 160];
    // First hold: 5 frames. The caller is taken off hold (no fills), then held again.
    for _ in 0..5 {
        assert_eq!(moh.fill(&mut frame), PlaybackState::Playing);
        heard.extend_from_slice(&frame);
    }
    for _ in 0..10 {
        assert_eq!(moh.fill(&mut frame), PlaybackState::Playing);
        heard.extend_from_slice(&frame);
    }
    let expected: Vec<i16> = one_pass.iter().copied().cycle().take(heard.len()).collect();
    assert_eq!(
        heard, expected,
        "the music continues where it stopped, across loops"
    );
}

#[test]
fn stop_gain_and_empty_playlists() {
    let mut playback = Playback::looping(vec![numbered(100, 400)]).unwrap();
    playback.set_gain(Gain::from_db(-6.0206));
    let mut frame = [0; 160];
    assert_eq!(playback.fill(&mut frame), PlaybackState::Playing);
    assert_eq!(frame[0], 50);
    assert_eq!(frame[1], 51); // 101 / 2 = 50.5, rounded half up
    playback.stop();
    assert_eq!(playback.fill(&mut frame), PlaybackState::Finished);
    assert!(frame.iter().all(|&s| s == 0));

    let silent = Prompt::from_samples(Vec::new(), 8_000).unwrap();
    let mut empty = Playback::looping(vec![silent]).unwrap();
    assert_eq!(empty.fill(&mut frame), PlaybackState::Finished);
    assert_eq!(empty.sample_rate(), None);
}

#[test]
fn a_playlist_must_share_one_rate() {
    let narrow = Prompt::silence(Duration::from_millis(20), 8_000).unwrap();
    let wide = Prompt::silence(Duration::from_millis(20), 16_000).unwrap();
    assert_eq!(
        Playback::new(vec![narrow, wide]).unwrap_err(),
        PromptError::MixedRates {
            first: 8_000,
            other: 16_000
        }
    );
}

#[test]
fn silence_and_beep() {
    let pause = Prompt::silence(Duration::from_millis(500), 16_000).unwrap();
    assert_eq!(pause.len(), 8_000);
    assert!(pause.samples().iter().all(|&s| s == 0));
    assert!(matches!(
        Prompt::silence(Duration::from_secs(3_600), 8_000),
        Err(PromptError::TooLong { .. })
    ));

    for rate in [8_000, 16_000, 48_000] {
        let beep = Prompt::beep(rate).unwrap();
        assert_eq!(beep.duration(), Duration::from_millis(u64::from(BEEP_MS)));
        let s = beep.samples();
        // Starts and ends in silence (no click), peaks at −10 dBFS.
        assert_eq!(s[0], 0);
        assert!(s[s.len() - 1].unsigned_abs() < 200);
        let peak = s.iter().map(|v| v.unsigned_abs()).max().unwrap();
        assert!((10_300..=10_362).contains(&peak), "{rate}: peak {peak}");
        // 1 kHz: 250 upward zero crossings in 250 ms.
        let crossings = s.windows(2).filter(|w| w[0] < 0 && w[1] >= 0).count();
        assert!(
            (249..=250).contains(&crossings),
            "{rate}: {crossings} crossings"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever the bytes, decoding returns a value or an error, never a panic.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Prompt::from_wav(Cursor::new(bytes), 8_000);
    }

    /// A valid file with a few bytes of its header or data corrupted: still no panic, and if
    /// it decodes, the result respects the limits.
    #[test]
    fn corrupted_wav_never_panics(
        edits in prop::collection::vec((0_usize..120, any::<u8>()), 1..6),
        channels in 1_u16..4,
        bits in prop::sample::select(vec![8_u16, 16, 24, 32]),
    ) {
        let samples: Vec<i32> = (0..60).map(|i| (i * 3) - 90).collect();
        let mut bytes = wav_int(spec(channels, 16_000, bits, SampleFormat::Int), &samples)
            .into_inner();
        for (at, value) in edits {
            if let Some(b) = bytes.get_mut(at) {
                *b = value;
            }
        }
        if let Ok(prompt) = Prompt::from_wav(Cursor::new(bytes), 8_000) {
            prop_assert!(prompt.duration() <= Duration::from_secs(u64::from(MAX_PROMPT_SECONDS)));
            prop_assert_eq!(prompt.sample_rate(), 8_000);
        }
    }
}
