//! The WAV file underneath a recording: a canonical 44-byte header (written by hand, see the
//! module docs of [`super`] for why not `hound`'s writer) followed by 16-bit little-endian
//! samples, appended in checkpoints that keep the header valid at every instant.

use std::io::{self, Seek, SeekFrom, Write};

use super::{IoStage, RecorderError};

/// Length of the canonical PCM WAV header: RIFF header (12) + fmt chunk (8 + 16) + data chunk
/// header (8).
pub const HEADER_LEN: u32 = 44;
/// Offset of the RIFF chunk size (the file length minus 8).
const RIFF_SIZE_AT: u64 = 4;
/// Offset of the data chunk size (the number of sample bytes).
const DATA_SIZE_AT: u64 = 40;
/// Bytes of header counted in the RIFF size besides the data: "WAVE" + fmt chunk + data
/// chunk header.
const RIFF_OVERHEAD: u32 = HEADER_LEN - 8;
/// Largest data chunk we write. The fields are `u32`, but many players and libraries read
/// them as signed, so we stop below 2 GiB (9.3 hours of 16 kHz stereo).
pub const MAX_DATA_BYTES: u32 = i32::MAX as u32 - RIFF_OVERHEAD;

/// The 44-byte header of a 16-bit PCM WAV file holding `data_len` bytes of samples.
///
/// Microsoft's RIFF/WAVE layout (`WAVEFORMAT` + `wBitsPerSample`, i.e. `PCMWAVEFORMAT`), all
/// fields little-endian. For one or two channels of 16-bit PCM this plain form is the one
/// every player reads; `WAVE_FORMAT_EXTENSIBLE` is only required beyond that.
#[must_use]
pub fn header(channels: u16, sample_rate: u32, data_len: u32) -> [u8; HEADER_LEN as usize] {
    let block_align = channels * 2;
    let byte_rate = sample_rate * u32::from(block_align);
    let mut h = [0_u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(RIFF_OVERHEAD + data_len).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16_u32.to_le_bytes()); // fmt chunk size
    h[20..22].copy_from_slice(&1_u16.to_le_bytes()); // WAVE_FORMAT_PCM
    h[22..24].copy_from_slice(&channels.to_le_bytes());
    h[24..28].copy_from_slice(&sample_rate.to_le_bytes());
    h[28..32].copy_from_slice(&byte_rate.to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16_u16.to_le_bytes()); // bits per sample
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_len.to_le_bytes());
    h
}

/// An append-only WAV writer whose header is patched at each checkpoint.
///
/// Invariant, at every instant (including in the middle of [`WavSink::checkpoint`]):
/// the bytes on `out` form a valid WAV file whose data chunk covers at least the `committed`
/// bytes, all of which are on `out` (see the ordering argument in [`super`]).
#[derive(Debug)]
pub struct WavSink<W> {
    out: W,
    channels: u16,
    /// Sample bytes on `out` that the header on `out` covers.
    committed: u32,
    /// Encoded samples not yet handed to `out`. Capacity reserved at creation for one
    /// checkpoint interval, so pushing never reallocates in steady state.
    pending: Vec<u8>,
}

impl<W: Write + Seek> WavSink<W> {
    /// Writes an empty file's header at offset 0 of `out` (a valid, empty WAV file).
    pub fn create(
        mut out: W,
        channels: u16,
        sample_rate: u32,
        pending_capacity: usize,
    ) -> Result<Self, RecorderError> {
        let fail = |e: &io::Error| RecorderError::io(e, IoStage::WriteHeader);
        out.seek(SeekFrom::Start(0)).map_err(|e| fail(&e))?;
        write_all(&mut out, &header(channels, sample_rate, 0)).map_err(|(_, e)| fail(&e))?;
        out.flush().map_err(|e| fail(&e))?;
        Ok(Self {
            out,
            channels,
            committed: 0,
            pending: Vec::with_capacity(pending_capacity),
        })
    }

    /// Queues one sample (no I/O).
    #[inline]
    pub fn push(&mut self, sample: i16) {
        self.pending.extend_from_slice(&sample.to_le_bytes());
    }

    /// Sample bytes covered by the header on `out`.
    pub fn committed(&self) -> u32 {
        self.committed
    }

    /// The underlying writer (for the driver's `sync_data`, or a test's inspection).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Consumes the sink, returning the writer.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Appends the queued samples, then makes the header cover them.
    ///
    /// Order: (1) the samples go to `out` after the committed data, (2) `out` is flushed,
    /// (3) the RIFF size is patched, (4) the data size is patched, (5) `out` is flushed. On an
    /// error the sink is left consistent (the header covers only samples that are on `out`) and
    /// must not be used again. The caller keeps the total below [`MAX_DATA_BYTES`].
    pub fn checkpoint(&mut self) -> Result<(), RecorderError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let added = u32::try_from(self.pending.len()).unwrap_or(u32::MAX);
        let total = self.committed.saturating_add(added).min(MAX_DATA_BYTES);
        let data_end = u64::from(HEADER_LEN) + u64::from(self.committed);
        if let Err(e) = self.out.seek(SeekFrom::Start(data_end)) {
            return Err(RecorderError::io(&e, IoStage::WriteData));
        }
        if let Err((written, e)) = write_all(&mut self.out, &self.pending) {
            self.salvage(written);
            return Err(RecorderError::io(&e, IoStage::WriteData));
        }
        if let Err(e) = self.out.flush() {
            // The samples may or may not be on storage: leave the header as it was.
            return Err(RecorderError::io(&e, IoStage::Flush));
        }
        self.patch_sizes(total)
            .map_err(|e| RecorderError::io(&e, IoStage::PatchHeader))?;
        self.out
            .flush()
            .map_err(|e| RecorderError::io(&e, IoStage::PatchHeader))?;
        self.committed = total;
        self.pending.clear();
        Ok(())
    }

    /// After a failed append of which `written` bytes landed, extends the header over the
    /// whole sample frames among them (best effort: patching rewrites bytes that exist, which
    /// still works on a full disk; if it fails too, the header keeps the last checkpoint).
    fn salvage(&mut self, written: usize) {
        let block = usize::from(self.channels) * 2;
        let whole = written - written % block;
        let Ok(whole) = u32::try_from(whole) else {
            return;
        };
        if whole == 0 {
            return;
        }
        let total = self.committed.saturating_add(whole).min(MAX_DATA_BYTES);
        if self.patch_sizes(total).is_ok() && self.out.flush().is_ok() {
            self.committed = total;
        }
    }

    /// Rewrites the RIFF size, then the data size, for `data_len` bytes of samples.
    fn patch_sizes(&mut self, data_len: u32) -> io::Result<()> {
        self.out.seek(SeekFrom::Start(RIFF_SIZE_AT))?;
        write_all(&mut self.out, &(RIFF_OVERHEAD + data_len).to_le_bytes()).map_err(|(_, e)| e)?;
        self.out.seek(SeekFrom::Start(DATA_SIZE_AT))?;
        write_all(&mut self.out, &data_len.to_le_bytes()).map_err(|(_, e)| e)
    }
}

/// `write_all` that reports how many bytes were accepted before an error, so that a short
/// write on a full disk can still be accounted for.
fn write_all<W: Write>(out: &mut W, mut buf: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut written = 0;
    while !buf.is_empty() {
        match out.write(buf) {
            Ok(0) => return Err((written, io::ErrorKind::WriteZero.into())),
            Ok(n) => {
                written += n;
                buf = &buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((written, e)),
        }
    }
    Ok(())
}
