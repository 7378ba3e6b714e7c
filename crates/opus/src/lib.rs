//! A safe, mono-only interface to libopus, the Opus reference implementation (the system's
//! library, found by `pkg-config`; on Debian `apt-get install libopus-dev`), for the media
//! engine's Opus codec.
//!
//! # Why libopus, not opus-rs
//! The media engine first used the pure-Rust `opus-rs`. Measured against the per-call memory
//! budget (150 KiB) it does not fit: one narrowband mono encoder and decoder pair holds 489 KB
//! of heap, 405 KiB resident, because every buffer is sized for 48 kHz stereo and a CELT
//! encoder and a second (stereo side) SILK encoder are always built. libopus keeps 43.6 KB
//! (encoder) + 18.3 KB (decoder), about 63 KiB resident per pair. Two pure-Rust alternatives
//! were measured and rejected: `mousiki` (a port) lost 9 dB of SNR at 8 kHz on our codec tests,
//! decoded libopus's bitstream with a 2-sample shift and tripped its own debug assertions on
//! random payloads; `unsafe-libopus` (libopus 1.3.1 through c2rust) has the right memory, but
//! its packet-loss concealment jumps to full scale after five samples where libopus 1.3.1
//! continues the signal (same packets, compared sample by sample). libopus is what Asterisk,
//! FreeSWITCH and every softphone link; it is fuzzed continuously upstream.
//!
//! The workspace forbids unsafe code; a C library is only reachable through it, so the
//! unsafety lives here, in one small crate, and every call states why it is sound.
//!
//! # Example
//! ```
//! use switchboard_opus::{Application, Decoder, Encoder};
//!
//! let mut enc = Encoder::new(8_000, Application::Voip)?;
//! enc.set_bitrate(20_000)?;
//! let pcm = [0_i16; 160]; // 20 ms at 8 kHz
//! let mut packet = [0_u8; 1_275];
//! let len = enc.encode(&pcm, &mut packet)?;
//!
//! let mut dec = Decoder::new(8_000)?;
//! let mut out = [0_i16; 160];
//! assert_eq!(dec.decode(&packet[..len], &mut out, false)?, 160);
//! # Ok::<(), switchboard_opus::Error>(())
//! ```
//!
//! # Invariants
//! An [`Encoder`] or [`Decoder`] owns exactly one live libopus state, created by its `new` and
//! destroyed by its `Drop`; nothing else holds the pointer.

mod ffi;

use std::ptr::NonNull;

use ffi as lib;

/// What libopus refused, from its error codes (`opus_defines.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument was out of range (a sample rate, a frame size, a setting).
    #[error("bad argument")]
    BadArgument,
    /// The output buffer cannot hold the result.
    #[error("buffer too small")]
    BufferTooSmall,
    /// The packet is corrupt or not Opus.
    #[error("invalid packet")]
    InvalidPacket,
    /// Not implemented by libopus.
    #[error("not implemented")]
    Unimplemented,
    /// libopus's state was found invalid, or an internal error occurred.
    #[error("internal error")]
    Internal,
    /// Memory allocation failed.
    #[error("allocation failed")]
    AllocationFailed,
}

impl Error {
    /// The error for a negative libopus return code.
    fn from_code(code: i32) -> Self {
        match code {
            lib::OPUS_BAD_ARG => Self::BadArgument,
            lib::OPUS_BUFFER_TOO_SMALL => Self::BufferTooSmall,
            lib::OPUS_INVALID_PACKET => Self::InvalidPacket,
            lib::OPUS_UNIMPLEMENTED => Self::Unimplemented,
            lib::OPUS_ALLOC_FAIL => Self::AllocationFailed,
            _ => Self::Internal,
        }
    }
}

/// `Ok(n)` for a non-negative libopus return value, the error otherwise.
fn check(ret: i32) -> Result<usize, Error> {
    usize::try_from(ret).map_err(|_| Error::from_code(ret))
}

/// The libopus "application", which biases its mode decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Application {
    /// Speech: SILK up to wideband, hybrid above. What a phone call wants.
    Voip,
    /// Music and mixed content.
    Audio,
    /// CELT only, lowest delay.
    RestrictedLowDelay,
}

impl Application {
    const fn code(self) -> i32 {
        match self {
            Self::Voip => lib::OPUS_APPLICATION_VOIP,
            Self::Audio => lib::OPUS_APPLICATION_AUDIO,
            Self::RestrictedLowDelay => lib::OPUS_APPLICATION_RESTRICTED_LOWDELAY,
        }
    }
}

/// The sample rate as libopus takes it, or why not: 8, 12, 16, 24 or 48 kHz.
fn rate_arg(sample_rate: u32) -> Result<i32, Error> {
    match sample_rate {
        8_000 | 12_000 | 16_000 | 24_000 | 48_000 => {
            i32::try_from(sample_rate).map_err(|_| Error::BadArgument)
        }
        _ => Err(Error::BadArgument),
    }
}

/// A buffer length as the `i32` libopus takes; longer buffers are used only up to `i32::MAX`.
fn len_arg(len: usize) -> i32 {
    i32::try_from(len).unwrap_or(i32::MAX)
}

/// A mono Opus encoder.
pub struct Encoder {
    st: NonNull<lib::OpusEncoder>,
    sample_rate: u32,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

// SAFETY: the state is plain memory owned by this value alone (see the crate invariants);
// libopus keeps no thread-local or shared mutable data (its tables are constant), so moving
// a state to another thread is sound.
#[allow(unsafe_code)]
unsafe impl Send for Encoder {}

impl Encoder {
    /// A mono encoder taking PCM at `sample_rate` (8, 12, 16, 24 or 48 kHz).
    ///
    /// # Errors
    /// [`Error::BadArgument`] for another rate; what libopus says if it cannot build the state.
    pub fn new(sample_rate: u32, application: Application) -> Result<Self, Error> {
        let fs = rate_arg(sample_rate)?;
        let mut err = lib::OPUS_OK;
        // SAFETY: the arguments are in the ranges libopus accepts (checked above: rate; mono;
        // a valid application), and `err` is a valid place for it to write its code.
        #[allow(unsafe_code)]
        let st = unsafe { lib::opus_encoder_create(fs, 1, application.code(), &raw mut err) };
        check(err)?;
        let st = NonNull::new(st).ok_or(Error::AllocationFailed)?;
        Ok(Self { st, sample_rate })
    }

    /// The PCM rate this encoder takes, in Hz.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Sends one integer `OPUS_SET_*` request.
    fn set(&mut self, request: i32, value: i32) -> Result<(), Error> {
        // SAFETY: `st` is our live encoder; every SET request we send (the `OPUS_SET_*`
        // constants of `ffi`) takes exactly one `opus_int32` argument, which is what we pass.
        #[allow(unsafe_code)]
        let ret = unsafe { lib::opus_encoder_ctl(self.st.as_ptr(), request, value) };
        check(ret).map(|_| ())
    }

    /// Target bitrate in bit/s (500 to 512,000).
    ///
    /// # Errors
    /// [`Error::BadArgument`] out of range.
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), Error> {
        let bps = i32::try_from(bps).map_err(|_| Error::BadArgument)?;
        self.set(lib::OPUS_SET_BITRATE_REQUEST, bps)
    }

    /// Complexity 0 (cheapest) to 10.
    ///
    /// # Errors
    /// [`Error::BadArgument`] above 10.
    pub fn set_complexity(&mut self, complexity: u8) -> Result<(), Error> {
        self.set(lib::OPUS_SET_COMPLEXITY_REQUEST, i32::from(complexity))
    }

    /// Variable (the default) or constant bitrate.
    ///
    /// # Errors
    /// Never in practice; libopus's code is passed on.
    pub fn set_vbr(&mut self, vbr: bool) -> Result<(), Error> {
        self.set(lib::OPUS_SET_VBR_REQUEST, i32::from(vbr))
    }

    /// In-band forward error correction (SILK LBRR).
    ///
    /// # Errors
    /// Never in practice; libopus's code is passed on.
    pub fn set_inband_fec(&mut self, fec: bool) -> Result<(), Error> {
        self.set(lib::OPUS_SET_INBAND_FEC_REQUEST, i32::from(fec))
    }

    /// The packet loss the encoder should expect, 0 to 100 %, which sizes its FEC.
    ///
    /// # Errors
    /// [`Error::BadArgument`] above 100.
    pub fn set_packet_loss_perc(&mut self, pct: u8) -> Result<(), Error> {
        self.set(lib::OPUS_SET_PACKET_LOSS_PERC_REQUEST, i32::from(pct))
    }

    /// Encodes one frame (`pcm.len()` samples: 2.5, 5, 10, 20, 40 or 60 ms at the encoder's
    /// rate) into `out`, returning the packet's length. The packet is at most `out.len()`
    /// octets long (libopus adapts to the room it is given).
    ///
    /// # Errors
    /// [`Error::BadArgument`] for another frame length; [`Error::BufferTooSmall`] if `out`
    /// cannot hold even a minimal packet.
    pub fn encode(&mut self, pcm: &[i16], out: &mut [u8]) -> Result<usize, Error> {
        let frame = i32::try_from(pcm.len()).map_err(|_| Error::BadArgument)?;
        // SAFETY: `st` is our live encoder; libopus reads `frame` samples (mono) from `pcm`,
        // which holds exactly that many, or refuses the length before reading; it writes at
        // most `len_arg(out.len())` octets into `out`, which holds at least that many.
        #[allow(unsafe_code)]
        let ret = unsafe {
            lib::opus_encode(
                self.st.as_ptr(),
                pcm.as_ptr(),
                frame,
                out.as_mut_ptr(),
                len_arg(out.len()),
            )
        };
        check(ret)
    }
}

impl Drop for Encoder {
    fn drop(&mut self) {
        // SAFETY: `st` came from `opus_encoder_create` and is destroyed once, here.
        #[allow(unsafe_code)]
        unsafe {
            lib::opus_encoder_destroy(self.st.as_ptr());
        }
    }
}

/// A mono Opus decoder: stereo packets are downmixed, lost ones concealed.
pub struct Decoder {
    st: NonNull<lib::OpusDecoder>,
    sample_rate: u32,
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder")
            .field("sample_rate", &self.sample_rate)
            .finish_non_exhaustive()
    }
}

// SAFETY: as for `Encoder`: owned plain memory, no shared mutable state in libopus.
#[allow(unsafe_code)]
unsafe impl Send for Decoder {}

impl Decoder {
    /// A mono decoder giving PCM at `sample_rate` (8, 12, 16, 24 or 48 kHz).
    ///
    /// # Errors
    /// [`Error::BadArgument`] for another rate; what libopus says if it cannot build the state.
    pub fn new(sample_rate: u32) -> Result<Self, Error> {
        let fs = rate_arg(sample_rate)?;
        let mut err = lib::OPUS_OK;
        // SAFETY: a rate libopus accepts (checked above), mono, and a valid place for `err`.
        #[allow(unsafe_code)]
        let st = unsafe { lib::opus_decoder_create(fs, 1, &raw mut err) };
        check(err)?;
        let st = NonNull::new(st).ok_or(Error::AllocationFailed)?;
        Ok(Self { st, sample_rate })
    }

    /// The PCM rate this decoder gives, in Hz.
    #[must_use]
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Decodes `packet` into `out`, returning the samples written. With `fec`, decodes instead
    /// the previous (lost) frame from the in-band FEC data `packet` carries, `out.len()`
    /// samples long (it should be the lost frame's duration).
    ///
    /// # Errors
    /// [`Error::InvalidPacket`] for a corrupt packet; [`Error::BufferTooSmall`] when the
    /// packet holds more audio than `out`; [`Error::BadArgument`] for an empty packet.
    pub fn decode(&mut self, packet: &[u8], out: &mut [i16], fec: bool) -> Result<usize, Error> {
        if packet.is_empty() {
            return Err(Error::BadArgument);
        }
        let len = i32::try_from(packet.len()).map_err(|_| Error::InvalidPacket)?;
        self.run(packet.as_ptr(), len, out, fec)
    }

    /// Conceals a lost frame of `out.len()` samples (a multiple of 2.5 ms) into `out`.
    ///
    /// # Errors
    /// [`Error::BadArgument`] for a length that is not a multiple of 2.5 ms.
    pub fn conceal(&mut self, out: &mut [i16]) -> Result<usize, Error> {
        self.run(std::ptr::null(), 0, out, false)
    }

    /// Calls `opus_decode` on `len` octets at `data` (null and 0 to conceal).
    fn run(
        &mut self,
        data: *const u8,
        len: i32,
        out: &mut [i16],
        fec: bool,
    ) -> Result<usize, Error> {
        // SAFETY: `st` is our live decoder; `data` is null with `len` 0 (concealment) or points
        // at `len` readable octets (from a slice, in `decode`); libopus writes at most
        // `frame_size` samples (mono) into `out`, which holds at least that many.
        #[allow(unsafe_code)]
        let ret = unsafe {
            lib::opus_decode(
                self.st.as_ptr(),
                data,
                len,
                out.as_mut_ptr(),
                len_arg(out.len()),
                i32::from(fec),
            )
        };
        check(ret)
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: `st` came from `opus_decoder_create` and is destroyed once, here.
        #[allow(unsafe_code)]
        unsafe {
            lib::opus_decoder_destroy(self.st.as_ptr());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, rate: u32, n: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                #[allow(clippy::cast_possible_truncation)] // within ±10,000
                let s = ((t * hz * std::f64::consts::TAU).sin() * 10_000.0) as i16;
                s
            })
            .collect()
    }

    #[test]
    fn rates_and_lengths_are_checked_before_libopus() {
        assert_eq!(
            Encoder::new(44_100, Application::Voip).err(),
            Some(Error::BadArgument)
        );
        assert_eq!(Decoder::new(11_025).err(), Some(Error::BadArgument));
        let mut enc = Encoder::new(8_000, Application::Voip).unwrap();
        let mut out = [0_u8; 200];
        // 7 ms is no Opus frame length: libopus refuses it without reading past the slice.
        assert_eq!(enc.encode(&[0; 56], &mut out), Err(Error::BadArgument));
        assert_eq!(enc.set_complexity(11), Err(Error::BadArgument));
        assert_eq!(enc.set_packet_loss_perc(101), Err(Error::BadArgument));
        let mut dec = Decoder::new(8_000).unwrap();
        assert_eq!(
            dec.decode(&[], &mut [0; 160], false),
            Err(Error::BadArgument)
        );
    }

    #[test]
    fn a_tone_survives_the_round_trip_at_every_rate() {
        for rate in [8_000, 16_000, 48_000] {
            let frame = rate as usize / 50;
            let mut enc = Encoder::new(rate, Application::Voip).unwrap();
            enc.set_bitrate(24_000).unwrap();
            let mut dec = Decoder::new(rate).unwrap();
            let pcm = tone(440.0, rate, frame * 50);
            let mut packet = [0_u8; 1_275];
            let mut out = vec![0_i16; frame];
            let mut energy = (0.0, 0.0);
            for (i, chunk) in pcm.chunks(frame).enumerate() {
                let len = enc.encode(chunk, &mut packet).unwrap();
                assert!(len > 1 && len < 200, "{rate}: {len} octets");
                assert_eq!(dec.decode(&packet[..len], &mut out, false), Ok(frame));
                if i >= 10 {
                    energy.0 += chunk.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
                    energy.1 += out.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
                }
            }
            let level_db = 10.0 * (energy.1 / energy.0).log10();
            assert!(level_db.abs() < 1.0, "{rate}: level {level_db:.2} dB");
        }
    }

    #[test]
    fn garbage_is_refused_or_decoded_never_a_crash() {
        let mut dec = Decoder::new(48_000).unwrap();
        let mut out = vec![0_i16; 5_760];
        let mut x: u32 = 0x1234_5678;
        for len in 1..400 {
            let packet: Vec<u8> = (0..len)
                .map(|_| {
                    // xorshift32: deterministic noise.
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x.to_le_bytes()[0]
                })
                .collect();
            match dec.decode(&packet, &mut out, false) {
                Ok(n) => assert!(n <= out.len()),
                Err(e) => assert!(matches!(e, Error::InvalidPacket | Error::BufferTooSmall)),
            }
        }
        // Concealment after all that still gives a frame.
        assert_eq!(dec.conceal(&mut out[..960]), Ok(960));
    }

    #[test]
    fn a_packet_longer_than_the_buffer_is_refused() {
        let mut enc = Encoder::new(48_000, Application::Voip).unwrap();
        let mut packet = [0_u8; 1_275];
        let len = enc.encode(&[0; 960], &mut packet).unwrap();
        let mut dec = Decoder::new(48_000).unwrap();
        assert_eq!(
            dec.decode(&packet[..len], &mut [0; 480], false),
            Err(Error::BufferTooSmall)
        );
    }
}
