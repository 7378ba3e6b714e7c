//! The N-way mixer behind every call with more than two parties: supervisor listen, whisper and
//! barge, and conferences.
//!
//! Each tick, every party may contribute one 20 ms frame ([`Mixer::set_input`]); after
//! [`Mixer::mix`], each party's output ([`Mixer::output`]) is the sum of the parties it hears,
//! **never itself** (a party hearing its own voice back 20–40 ms late is the echo everybody
//! hates). Who hears whom is a matrix, so the supervisor modes are just three settings of it
//! ([`Mixer::supervise`]):
//!
//! | mode    | caller hears     | agent hears               | supervisor hears |
//! |---------|------------------|---------------------------|------------------|
//! | listen  | agent            | caller                    | caller + agent   |
//! | whisper | agent            | caller + supervisor       | caller + agent   |
//! | barge   | agent + supervisor | caller + supervisor     | caller + agent   |
//!
//! A party that sends nothing this tick (silence suppression, packet loss, a leg on hold) is
//! simply absent from the sums; it still gets its output.
//!
//! # Saturation: sum in `i32`, then clamp (and why not a soft limiter)
//! Sums are exact in `i32` (64 parties × 32,768 is far from overflow) and clamped to the `i16`
//! range once, at the end. A soft limiter (a compressor knee, or gain that follows the peak)
//! would avoid the harsh edge of clipping, but it distorts *every* loud frame a little, needs
//! per-listener state that pumps audibly, and makes the output untestable against exact sums.
//! In the cases that matter here clipping is rare: supervisor modes mix at most two voices, and
//! telephone speech peaks around −10 dBFS, so two talkers at once stay below full scale;
//! conferences are dominated by one talker at a time. Clamping keeps every sum that fits
//! bit-exact and only touches the samples that could not be represented anyway.
//!
//! # Cost
//! Allocation happens when a party joins (its two frame buffers); [`Mixer::mix`] allocates
//! nothing. It computes the sum of everyone present once, then for each listener either
//! subtracts the few parties it does *not* hear from that total, or adds the few it does,
//! whichever touches fewer frames. In a conference where everyone hears everyone, that is the
//! total minus the listener's own frame: O(N) frames per tick, not O(N²).
//!
//! ```
//! use switchboard_media::mixer::{Mixer, SupervisorMode};
//!
//! let mut mixer = Mixer::new(160);
//! let caller = mixer.add_party().unwrap();
//! let agent = mixer.add_party().unwrap();
//! let supervisor = mixer.add_party().unwrap();
//! mixer.supervise(caller, agent, supervisor, SupervisorMode::Whisper).unwrap();
//!
//! mixer.set_input(caller, &[100; 160]).unwrap();
//! mixer.set_input(agent, &[20; 160]).unwrap();
//! mixer.set_input(supervisor, &[3; 160]).unwrap();
//! mixer.mix();
//! assert_eq!(mixer.output(caller).unwrap()[0], 20); // the caller does not hear the whisper
//! assert_eq!(mixer.output(agent).unwrap()[0], 103);
//! assert_eq!(mixer.output(supervisor).unwrap()[0], 120);
//! ```

/// Most parties in one mixer (the "who hears whom" rows are 64-bit masks). Contact-centre
/// conferences stay far below; a bigger bridge would cascade mixers.
pub const MAX_PARTIES: usize = 64;

/// A party of a [`Mixer`]. Ids of parties that left are never mistaken for newcomers: a
/// reused slot gets a new generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartyId {
    slot: u8,
    generation: u32,
}

/// The supervisor features, as settings of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SupervisorMode {
    /// The supervisor hears both; nobody hears the supervisor.
    Listen,
    /// The supervisor hears both; the agent hears the supervisor, the caller does not.
    Whisper,
    /// Everyone hears everyone.
    Barge,
}

/// Errors of the mixer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MixerError {
    /// [`MAX_PARTIES`] are already mixed.
    #[error("the mixer already has {MAX_PARTIES} parties")]
    Full,
    /// The party left (or never belonged to this mixer).
    #[error("no such party in this mixer: {0:?}")]
    UnknownParty(PartyId),
    /// A frame of the wrong length.
    #[error("frame has {got} samples, the mixer takes {expected}")]
    FrameLength {
        /// The mixer's frame length.
        expected: usize,
        /// Samples passed.
        got: usize,
    },
}

/// Mixes N parties, each hearing the parties its matrix row allows, minus itself.
#[derive(Debug)]
pub struct Mixer {
    frame: usize,
    /// Bit `i`: slot `i` holds a party.
    active: u64,
    /// Bit `i`: slot `i` contributed a frame this tick.
    present: u64,
    /// `hears[i]` bit `j`: the party in slot `i` hears slot `j`. Invariant: bit `i` is clear,
    /// and only active slots are set.
    hears: [u64; MAX_PARTIES],
    /// Generation of each slot, bumped when a party leaves it.
    generation: [u32; MAX_PARTIES],
    /// Input frame per slot (kept when a party leaves, reused by the next one).
    inputs: Vec<Box<[i16]>>,
    /// Output frame per slot.
    outputs: Vec<Box<[i16]>>,
    /// Sum of every present input.
    total: Box<[i32]>,
    /// Scratch sum for one listener.
    acc: Box<[i32]>,
}

/// Bit of slot `i`.
const fn bit(i: usize) -> u64 {
    1 << i
}

impl Mixer {
    /// An empty mixer for frames of `frame_samples` samples (160 for 20 ms at 8 kHz).
    #[must_use]
    pub fn new(frame_samples: usize) -> Self {
        Self {
            frame: frame_samples,
            active: 0,
            present: 0,
            hears: [0; MAX_PARTIES],
            generation: [0; MAX_PARTIES],
            inputs: Vec::new(),
            outputs: Vec::new(),
            total: vec![0; frame_samples].into(),
            acc: vec![0; frame_samples].into(),
        }
    }

    /// Adds a party that hears everyone and is heard by everyone (a conference); use
    /// [`Mixer::set_hears`] or [`Mixer::supervise`] to restrict.
    ///
    /// # Errors
    /// [`MixerError::Full`] with [`MAX_PARTIES`] parties.
    pub fn add_party(&mut self) -> Result<PartyId, MixerError> {
        let slot = (!self.active).trailing_zeros() as usize;
        if slot >= MAX_PARTIES {
            return Err(MixerError::Full);
        }
        if slot == self.inputs.len() {
            self.inputs.push(vec![0; self.frame].into());
            self.outputs.push(vec![0; self.frame].into());
        }
        self.outputs[slot].fill(0);
        for other in iter_bits(self.active) {
            self.hears[other] |= bit(slot);
        }
        self.hears[slot] = self.active;
        self.active |= bit(slot);
        self.present &= !bit(slot);
        Ok(PartyId {
            slot: u8::try_from(slot).unwrap_or(u8::MAX),
            generation: self.generation[slot],
        })
    }

    /// Removes a party: nobody hears it any more, and its id becomes invalid.
    ///
    /// # Errors
    /// [`MixerError::UnknownParty`] if it already left.
    pub fn remove_party(&mut self, party: PartyId) -> Result<(), MixerError> {
        let slot = self.slot(party)?;
        self.active &= !bit(slot);
        self.present &= !bit(slot);
        self.hears[slot] = 0;
        for other in iter_bits(self.active) {
            self.hears[other] &= !bit(slot);
        }
        self.generation[slot] = self.generation[slot].wrapping_add(1);
        Ok(())
    }

    /// Sets whether `listener` hears `speaker`. A party never hears itself: asking for it is
    /// accepted and ignored.
    ///
    /// # Errors
    /// [`MixerError::UnknownParty`] if either party left.
    pub fn set_hears(
        &mut self,
        listener: PartyId,
        speaker: PartyId,
        hears: bool,
    ) -> Result<(), MixerError> {
        let (l, s) = (self.slot(listener)?, self.slot(speaker)?);
        if l != s {
            if hears {
                self.hears[l] |= bit(s);
            } else {
                self.hears[l] &= !bit(s);
            }
        }
        Ok(())
    }

    /// Whether `listener` hears `speaker`.
    ///
    /// # Errors
    /// [`MixerError::UnknownParty`] if either party left.
    pub fn hears(&self, listener: PartyId, speaker: PartyId) -> Result<bool, MixerError> {
        let (l, s) = (self.slot(listener)?, self.slot(speaker)?);
        Ok(self.hears[l] & bit(s) != 0)
    }

    /// Applies a supervisor mode to the three parties of a supervised call (see the table in
    /// the module docs). Relations with any other party are left alone.
    ///
    /// # Errors
    /// [`MixerError::UnknownParty`] if one of them left.
    pub fn supervise(
        &mut self,
        caller: PartyId,
        agent: PartyId,
        supervisor: PartyId,
        mode: SupervisorMode,
    ) -> Result<(), MixerError> {
        let agent_hears_supervisor =
            matches!(mode, SupervisorMode::Whisper | SupervisorMode::Barge);
        let caller_hears_supervisor = mode == SupervisorMode::Barge;
        self.set_hears(caller, agent, true)?;
        self.set_hears(agent, caller, true)?;
        self.set_hears(supervisor, caller, true)?;
        self.set_hears(supervisor, agent, true)?;
        self.set_hears(agent, supervisor, agent_hears_supervisor)?;
        self.set_hears(caller, supervisor, caller_hears_supervisor)
    }

    /// Gives `party`'s frame for this tick (a second call in the same tick replaces the first).
    ///
    /// # Errors
    /// [`MixerError::UnknownParty`]; [`MixerError::FrameLength`] (the party then counts as
    /// absent this tick).
    pub fn set_input(&mut self, party: PartyId, frame: &[i16]) -> Result<(), MixerError> {
        let slot = self.slot(party)?;
        if frame.len() != self.frame {
            self.present &= !bit(slot);
            return Err(MixerError::FrameLength {
                expected: self.frame,
                got: frame.len(),
            });
        }
        self.inputs[slot].copy_from_slice(frame);
        self.present |= bit(slot);
        Ok(())
    }

    /// Mixes this tick: computes every party's output from the inputs given since the last
    /// `mix`, then forgets those inputs (a party that sends nothing next tick is absent).
    pub fn mix(&mut self) {
        let present = self.present;
        self.total.fill(0);
        for j in iter_bits(present) {
            add(&mut self.total, &self.inputs[j]);
        }
        for i in iter_bits(self.active) {
            let heard = self.hears[i] & present;
            let excluded = present & !heard; // includes `i` itself when it spoke
            let out = &mut self.outputs[i];
            if heard == 0 {
                out.fill(0);
            } else if excluded.count_ones() < heard.count_ones() {
                self.acc.copy_from_slice(&self.total);
                for j in iter_bits(excluded) {
                    sub(&mut self.acc, &self.inputs[j]);
                }
                clamp_into(&self.acc, out);
            } else {
                self.acc.fill(0);
                for j in iter_bits(heard) {
                    add(&mut self.acc, &self.inputs[j]);
                }
                clamp_into(&self.acc, out);
            }
        }
        self.present = 0;
    }

    /// What `party` hears, as computed by the last [`Mixer::mix`] (silence before the first).
    ///
    /// # Errors
    /// [`MixerError::UnknownParty`] if it left.
    pub fn output(&self, party: PartyId) -> Result<&[i16], MixerError> {
        Ok(&self.outputs[self.slot(party)?])
    }

    /// Number of parties.
    #[must_use]
    pub fn party_count(&self) -> usize {
        self.active.count_ones() as usize
    }

    /// Samples per frame.
    #[must_use]
    pub fn frame_samples(&self) -> usize {
        self.frame
    }

    fn slot(&self, party: PartyId) -> Result<usize, MixerError> {
        let slot = usize::from(party.slot);
        if slot < MAX_PARTIES
            && self.active & bit(slot) != 0
            && self.generation[slot] == party.generation
        {
            Ok(slot)
        } else {
            Err(MixerError::UnknownParty(party))
        }
    }
}

/// The indices of the set bits of `mask`, lowest first.
fn iter_bits(mut mask: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            i
        })
    })
}

fn add(acc: &mut [i32], frame: &[i16]) {
    for (a, &s) in acc.iter_mut().zip(frame) {
        *a += i32::from(s);
    }
}

fn sub(acc: &mut [i32], frame: &[i16]) {
    for (a, &s) in acc.iter_mut().zip(frame) {
        *a -= i32::from(s);
    }
}

fn clamp_into(acc: &[i32], out: &mut [i16]) {
    for (o, &a) in out.iter_mut().zip(acc) {
        // Clamped to the i16 range, so the conversion cannot fail.
        *o = i16::try_from(a.clamp(i32::from(i16::MIN), i32::from(i16::MAX))).unwrap_or(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_iterate_in_order() {
        assert_eq!(iter_bits(0).count(), 0);
        assert_eq!(iter_bits(0b1011_0001).collect::<Vec<_>>(), [0, 4, 5, 7]);
        assert_eq!(iter_bits(1 << 63).collect::<Vec<_>>(), [63]);
    }

    #[test]
    fn the_mixer_fills_up_at_64() {
        let mut m = Mixer::new(1);
        for _ in 0..MAX_PARTIES {
            m.add_party().unwrap();
        }
        assert_eq!(m.add_party(), Err(MixerError::Full));
        assert_eq!(m.party_count(), MAX_PARTIES);
    }
}
