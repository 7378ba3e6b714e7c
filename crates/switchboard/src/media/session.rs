//! One call's media inside a worker: its legs, the bridge between two of them, and what each
//! leg hears; the commands that change that, and the 20 ms tick that produces every timed
//! packet (prompts, music, tones, transcoded audio, RFC 4733 digits) and feeds the recorder.

use std::time::{Duration, Instant};

use switchboard_media::dtmf::DtmfEdge;
use switchboard_media::dtmf::inband::{Detector, DetectorConfig};
use switchboard_media::dtmf::rfc4733::Volume;
use switchboard_media::prompt::{Playback, PlaybackState};
use switchboard_media::recorder::{RecordingChannel, RecordingRate, Side};
use switchboard_media::resample::Resampler;
use switchboard_media::rtp::{self, PayloadType, RtpHeader, Ssrc};
use switchboard_media::tone::{ToneGenerator, TonePlan};
use tokio::sync::mpsc;

/// Sessions ticked between two looks at the sockets: about 0.3 ms of a tick that records
/// every call (4.5 µs a session), so a relayed packet waits at most that long for the tick.
const TICK_SLICE: usize = 64;

use super::leg::{Inband, Leg, MonoTap, Source, tick_samples};
use super::record::StereoTap;
use super::worker::Worker;
use super::{Command, MediaEvent, PlaySource, SessionId, ToneKind};

/// Legs one session may hold: caller, callee, and room for supervisors and transfers.
pub(crate) const MAX_LEGS: usize = 8;

/// A session's leg slots, inline and `Copy`: the tick walks them 50 times a second per call
/// without allocating.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct LegSet {
    slots: [usize; MAX_LEGS],
    len: usize,
}

impl LegSet {
    /// Adds a slot; `false` when the session is full.
    pub(crate) fn push(&mut self, slot: usize) -> bool {
        if self.len == MAX_LEGS {
            return false;
        }
        self.slots[self.len] = slot;
        self.len += 1;
        true
    }

    pub(crate) fn remove(&mut self, slot: usize) {
        let found = self.iter().position(|s| s == slot);
        if let Some(pos) = found {
            self.slots.copy_within(pos + 1..self.len, pos);
            self.len -= 1;
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots[..self.len].iter().copied()
    }
}

/// One call's media.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: SessionId,
    pub(crate) events: mpsc::Sender<MediaEvent>,
    /// Leg slots in this session.
    pub(crate) legs: LegSet,
    /// The two legs that hear each other.
    pub(crate) bridge: Option<(usize, usize)>,
    pub(crate) recording: Option<StereoTap>,
}

impl Session {
    pub(crate) fn new(id: SessionId, events: mpsc::Sender<MediaEvent>) -> Self {
        Session {
            id,
            events,
            legs: LegSet::default(),
            bridge: None,
            recording: None,
        }
    }

    /// The leg bridged with `leg`, if any.
    pub(crate) fn peer_of(&self, leg: usize) -> Option<usize> {
        match self.bridge {
            Some((a, b)) if a == leg => Some(b),
            Some((a, b)) if b == leg => Some(a),
            _ => None,
        }
    }
}

/// A leg slot's mutable pair, for work that reads one leg and writes the other.
fn two<T>(slots: &mut [Option<T>], a: usize, b: usize) -> Option<(&mut T, &mut T)> {
    if a == b || a >= slots.len() || b >= slots.len() {
        return None;
    }
    let (low, high) = slots.split_at_mut(a.max(b));
    let (x, y) = (low[a.min(b)].as_mut()?, high[0].as_mut()?);
    Some(if a < b { (x, y) } else { (y, x) })
}

impl Worker {
    fn jitter_bounds(&self) -> (Duration, Duration) {
        let m = &self.settings.media;
        (
            Duration::from_millis(u64::from(m.jitter_min_ms)),
            Duration::from_millis(u64::from(m.jitter_max_ms)),
        )
    }

    fn tone_plan(&self) -> &'static TonePlan {
        TonePlan::by_country(&self.settings.media.tones).unwrap_or_else(TonePlan::france)
    }

    pub(crate) fn on_session_command(&mut self, now: Instant, command: Command) {
        let leg_slot = |w: &Worker, id| w.leg_index.get(&id).copied();
        match command {
            Command::SetRemote { leg, remote } => {
                let jitter = self.jitter_bounds();
                if let Some(i) = leg_slot(self, leg)
                    && let Some(Some(l)) = self.legs.get_mut(i)
                {
                    if let Err(err) = l.set_remote(remote, now, jitter) {
                        tracing::warn!(leg = %leg, %err, "codec not usable on this leg");
                    }
                    let s = l.session;
                    self.refresh_session(s);
                }
            }
            Command::Bridge { a, b } => {
                if let (Some(a), Some(b)) = (leg_slot(self, a), leg_slot(self, b))
                    && let Some(Some(la)) = self.legs.get(a)
                {
                    let s = la.session;
                    if let Some(Some(session)) = self.sessions.get_mut(s) {
                        session.bridge = Some((a, b));
                    }
                    self.refresh_session(s);
                }
            }
            Command::Unbridge { session } => {
                if let Some(&s) = self.session_index.get(&session) {
                    if let Some(Some(session)) = self.sessions.get_mut(s) {
                        session.bridge = None;
                    }
                    self.refresh_session(s);
                }
            }
            Command::Play { leg, id, source } => self.play(leg, id, source),
            Command::StopPlay { leg } => {
                if let Some(i) = leg_slot(self, leg)
                    && let Some(Some(l)) = self.legs.get_mut(i)
                {
                    l.overridden = false;
                    let s = l.session;
                    self.refresh_session(s);
                }
            }
            Command::DetectInband { leg, on } => {
                if let Some(i) = leg_slot(self, leg)
                    && let Some(Some(l)) = self.legs.get_mut(i)
                {
                    l.inband = on.then(|| Inband {
                        detector: Detector::new(DetectorConfig::default()),
                        to_8k: None,
                        buf: vec![0; 160],
                    });
                    let s = l.session;
                    self.refresh_session(s);
                }
            }
            Command::SendDigits { leg, digits } => {
                if let Some(i) = leg_slot(self, leg)
                    && let Some(Some(l)) = self.legs.get_mut(i)
                {
                    for digit in digits {
                        if let Err(err) = l.dtmf_tx.start(
                            now,
                            digit,
                            Duration::from_millis(100),
                            Volume::default(),
                        ) {
                            tracing::debug!(%err, "digit not sent");
                        }
                    }
                }
            }
            Command::StartRecording {
                session,
                caller,
                callee,
                path,
            } => self.start_recording(session, caller, callee, path),
            Command::PauseRecording { session, paused } => {
                if let Some(&s) = self.session_index.get(&session)
                    && let Some(Some(session)) = self.sessions.get_mut(s)
                    && let Some(tap) = session.recording.as_mut()
                {
                    tap.set_paused(paused, &self.recorder);
                }
            }
            Command::RecordLeg { leg, path, max } => self.record_leg(leg, path, max),
            Command::StopRecordLeg { leg } => {
                if let Some(i) = leg_slot(self, leg) {
                    self.finish_voicemail(i, false);
                }
            }
            Command::NewSession { .. }
            | Command::AddLeg { .. }
            | Command::RemoveLeg { .. }
            | Command::CloseSession { .. } => {}
        }
    }

    fn play(&mut self, leg: super::MediaLegId, id: u64, source: PlaySource) {
        let Some(&i) = self.leg_index.get(&leg) else {
            return;
        };
        let plan = self.tone_plan();
        let rate = self.legs[i]
            .as_ref()
            .and_then(Leg::encode_rate)
            .unwrap_or(8000);
        let moh =
            matches!(source, PlaySource::MusicOnHold).then(|| self.prompts.moh_playlist(rate));
        let Some(Some(l)) = self.legs.get_mut(i) else {
            return;
        };
        let (l_id, s) = (l.id, l.session);
        l.source = match source {
            PlaySource::Prompts(prompts) => {
                match Playback::new(prompts.iter().map(|p| (**p).clone()).collect()) {
                    Ok(playback) => Source::Prompts { playback, id },
                    Err(err) => {
                        tracing::warn!(%err, leg = %l_id, "prompts not played");
                        if let Some(Some(session)) = self.sessions.get(s) {
                            let _ = session
                                .events
                                .try_send(MediaEvent::PlaybackDone { leg: l_id, id });
                        }
                        return;
                    }
                }
            }
            PlaySource::MusicOnHold => {
                if l.moh.is_none() {
                    l.moh = moh.and_then(|list| Playback::looping(list).ok());
                }
                Source::MusicOnHold
            }
            PlaySource::Tone(kind) => {
                let tone = match kind {
                    ToneKind::Ringback => plan.ringback(),
                    ToneKind::Busy => plan.busy(),
                    ToneKind::Congestion => plan.congestion(),
                };
                match ToneGenerator::new(tone, rate) {
                    Ok(generator) => Source::Tone(Box::new(generator)),
                    Err(_) => Source::Silence,
                }
            }
        };
        l.overridden = true;
        l.out.marker = true;
        self.refresh_session(s);
    }

    /// Recomputes what each leg of a session hears and which legs must be decoded.
    pub(crate) fn refresh_session(&mut self, s: usize) {
        let Some(Some(session)) = self.sessions.get(s) else {
            return;
        };
        let bridge = session.bridge;
        let recording = session.recording.as_ref().map(|r| (r.caller, r.callee));
        let legs = session.legs;
        let jitter = self.jitter_bounds();
        for i in legs.iter() {
            let peer = session_peer(bridge, i);
            let (peer_holds, same_codec, peer_present) =
                match (peer, self.legs.get(peer.unwrap_or(usize::MAX))) {
                    (Some(_), Some(Some(p))) => {
                        let me = self.legs[i].as_ref().and_then(|l| l.remote.as_ref());
                        let same = match (me, p.remote.as_ref()) {
                            (Some(a), Some(b)) => a.relays_to(b),
                            _ => false,
                        };
                        (p.holds(), same, true)
                    }
                    _ => (false, false, false),
                };
            let Some(Some(leg)) = self.legs.get_mut(i) else {
                continue;
            };
            if !leg.overridden {
                leg.source = if !peer_present {
                    Source::Silence
                } else if peer_holds {
                    if leg.moh.is_none() {
                        let rate = leg.encode_rate().unwrap_or(8000);
                        leg.moh = Playback::looping(self.prompts.moh_playlist(rate)).ok();
                    }
                    Source::MusicOnHold
                } else if same_codec {
                    Source::Relay
                } else {
                    Source::Transcode
                };
            }
        }
        // Decoding is needed for recording, transcoding (the peer's audio), in-band DTMF and
        // voicemail.
        for i in legs.iter() {
            let peer_transcodes = session_peer(bridge, i)
                .and_then(|p| self.legs.get(p))
                .and_then(Option::as_ref)
                .is_some_and(|p| matches!(p.source, Source::Transcode));
            let recorded = recording.is_some_and(|(a, b)| a == i || b == i);
            if let Some(Some(leg)) = self.legs.get_mut(i) {
                let want =
                    recorded || peer_transcodes || leg.inband.is_some() || leg.voicemail.is_some();
                leg.want_decode(want, jitter);
            }
        }
    }

    /// The 20 ms tick over every session.
    pub(crate) fn tick(&mut self, now: Instant) {
        let started = Instant::now();
        self.ticks += 1;
        let mut since_io = 0;
        // Time spent on the sockets between slices, which is not the tick's own.
        let mut serving = Duration::ZERO;
        for s in 0..self.sessions.len() {
            if self.sessions[s].is_some() {
                self.tick_session(s, now);
                since_io += 1;
                if since_io == TICK_SLICE {
                    since_io = 0;
                    let io_started = Instant::now();
                    // A poll error shows again at the worker's next wait, which handles it.
                    let _ = self.serve_io(Some(Duration::ZERO));
                    serving += io_started.elapsed();
                }
            }
        }
        if self.ticks.is_multiple_of(50) {
            self.retry_closes();
            self.reap_orphans();
            self.check_timeouts(now);
        }
        let took = started.elapsed().saturating_sub(serving);
        let took = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.local.slowest_tick_us = self.local.slowest_tick_us.max(took);
        self.local.flush(&self.shared);
    }

    fn tick_session(&mut self, s: usize, now: Instant) {
        let legs = self.session_legs(s);
        // 1. What each leg said during the last 20 ms (only where it is needed).
        for i in legs.iter() {
            if let Some(Some(leg)) = self.legs.get_mut(i)
                && let Some(decode) = leg.decode.as_mut()
            {
                decode.take_frame(now);
            }
        }
        // 2. In-band DTMF and voicemail taps on those frames.
        for i in legs.iter() {
            self.inband_and_voicemail(s, i, now);
        }
        // 3. What each leg hears.
        let bridge = self.sessions[s].as_ref().and_then(|x| x.bridge);
        for i in legs.iter() {
            self.produce(s, i, session_peer(bridge, i), now);
        }
        // 4. The stereo recording.
        self.feed_recording(s);
        // 5. RTCP reports.
        for i in legs.iter() {
            self.rtcp_tick(i, now);
        }
    }

    fn inband_and_voicemail(&mut self, s: usize, i: usize, now: Instant) {
        let Some(Some(leg)) = self.legs.get_mut(i) else {
            return;
        };
        let Some(decode) = leg.decode.as_ref() else {
            return;
        };
        let rate = decode.rate;
        let frame = decode.current();
        if let Some(inband) = leg.inband.as_mut()
            && let Some(frame) = frame
        {
            let pcm: Option<&[i16]> = if rate == 8000 {
                Some(frame)
            } else {
                if inband.to_8k.as_ref().is_none_or(|(from, _)| *from != rate) {
                    inband.to_8k = Resampler::per_20ms(rate, 8000).ok().map(|r| (rate, r));
                }
                let converted = inband
                    .to_8k
                    .as_mut()
                    .is_some_and(|(_, r)| r.process(frame, &mut inband.buf).is_ok());
                converted.then_some(&inband.buf[..])
            };
            if let Some(pcm) = pcm {
                inband.detector.handle_frame(now, pcm);
            }
            while let Some(edge) = inband.detector.poll_output() {
                if let (DtmfEdge::End(event), Some(Some(session))) = (edge, self.sessions.get(s)) {
                    let _ = session
                        .events
                        .try_send(MediaEvent::Dtmf { leg: leg.id, event });
                }
            }
        }
        let done = if let Some(tap) = leg.voicemail.as_mut() {
            tap.push(frame, rate, &self.recorder);
            tap.written >= tap.max
        } else {
            false
        };
        if done {
            self.finish_voicemail(i, true);
        }
    }

    /// Generates this tick's packet for leg `i`, if its source is timed.
    fn produce(&mut self, s: usize, i: usize, peer: Option<usize>, now: Instant) {
        // RFC 4733 digits take precedence over audio while they last (RFC 4733 §2.5.1.2).
        if self.send_dtmf(i, now) {
            return;
        }
        let mut pcm = std::mem::take(&mut self.pcm);
        if self.fill_pcm(s, i, peer, &mut pcm) {
            self.encode_and_send(i, &pcm, now);
        }
        self.pcm = pcm;
    }

    /// Fills `pcm` with 20 ms at the leg's encode rate from its source; `false` if nothing to send.
    fn fill_pcm(&mut self, s: usize, i: usize, peer: Option<usize>, pcm: &mut Vec<i16>) -> bool {
        let Some(Some(leg)) = self.legs.get(i) else {
            return false;
        };
        let Some(rate) = leg.encode_rate() else {
            return false;
        };
        if leg.send_target().is_none() || !leg.source.generated() {
            return false;
        }
        pcm.clear();
        pcm.resize(tick_samples(rate), 0);
        if matches!(leg.source, Source::Transcode) {
            let Some(p) = peer else { return false };
            let Some((leg, peer)) = two(&mut self.legs, i, p) else {
                return false;
            };
            let Some(frame) = peer
                .decode
                .as_ref()
                .and_then(|d| d.current().map(|f| (f, d.rate)))
            else {
                // The peer said nothing this tick (silence suppression, loss beyond PLC).
                return false;
            };
            return leg.transcode_into(frame.0, frame.1, pcm);
        }
        let Some(Some(leg)) = self.legs.get_mut(i) else {
            return false;
        };
        match &mut leg.source {
            Source::Silence => true,
            Source::Prompts { playback, id } => {
                if playback.fill(pcm) == PlaybackState::Finished {
                    let id = *id;
                    leg.overridden = false;
                    let leg_id = leg.id;
                    if let Some(Some(session)) = self.sessions.get(s) {
                        let _ = session
                            .events
                            .try_send(MediaEvent::PlaybackDone { leg: leg_id, id });
                    }
                    self.refresh_session(s);
                }
                true
            }
            Source::MusicOnHold => {
                if let Some(moh) = leg.moh.as_mut() {
                    let _ = moh.fill(pcm);
                }
                true
            }
            Source::Tone(generator) => {
                generator.fill(pcm);
                true
            }
            Source::Relay | Source::Transcode => false,
        }
    }

    fn encode_and_send(&mut self, i: usize, pcm: &[i16], now: Instant) {
        let Some(Some(leg)) = self.legs.get_mut(i) else {
            return;
        };
        let (Some(encoder), Some(remote)) = (leg.encoder.as_mut(), leg.remote.as_ref()) else {
            return;
        };
        let clock = remote.codec.rtp_clock_rate();
        let Ok(pt) = PayloadType::new(remote.payload_type) else {
            return;
        };
        let mut payload = [0u8; switchboard_media::codec::MAX_PAYLOAD_BYTES];
        let Ok(n) = encoder.0.encode(pcm, &mut payload) else {
            return;
        };
        let (seq, ts) = leg.out.next_generated(now, clock, clock / 50);
        let header = RtpHeader {
            marker: std::mem::take(&mut leg.out.marker),
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: Ssrc(leg.out.ssrc),
        };
        let Ok(len) = rtp::write_packet(&mut self.out, &header, &payload[..n]) else {
            return;
        };
        self.send_generated(i, len, &header, now);
    }

    /// Sends the leg's next RFC 4733 packet if a digit is being sent; `true` if one was.
    fn send_dtmf(&mut self, i: usize, now: Instant) -> bool {
        let Some(Some(leg)) = self.legs.get_mut(i) else {
            return false;
        };
        let Some(te) = leg.remote.as_ref().and_then(|r| r.telephone_event) else {
            return false;
        };
        let Some(packet) = leg.dtmf_tx.poll(now) else {
            return false;
        };
        let clock = leg.clock();
        let Ok(pt) = PayloadType::new(te) else {
            return false;
        };
        let (seq, ts) =
            leg.out
                .next_event_packet(now, clock, packet.marker, packet.timestamp_offset);
        let header = RtpHeader {
            marker: packet.marker,
            payload_type: pt,
            sequence: seq,
            timestamp: ts,
            ssrc: Ssrc(leg.out.ssrc),
        };
        let Ok(len) = rtp::write_packet(&mut self.out, &header, &packet.payload) else {
            return false;
        };
        self.send_generated(i, len, &header, now);
        true
    }

    fn rtcp_tick(&mut self, i: usize, now: Instant) {
        let Some(Some(leg)) = self.legs.get_mut(i) else {
            return;
        };
        let Some(target) = leg.rtcp_target() else {
            return;
        };
        // Most ticks have no report due: skip the wall-clock read and the call.
        if leg.rtcp_session.poll_timeout().is_some_and(|due| due > now) {
            return;
        }
        let ntp = switchboard_media::rtcp::NtpTime::from(std::time::SystemTime::now());
        if let Some(bytes) = leg
            .rtcp_session
            .poll_transmit(now, ntp, &leg.tx_stats, &leg.rx)
        {
            let socket = if leg.remote.as_ref().is_some_and(|r| r.rtcp_mux) {
                &leg.rtp
            } else {
                &leg.rtcp
            };
            if socket.send_to(&bytes, target).is_err() {
                self.local.send_errors += 1;
            }
        }
    }

    /// Once a second: legs whose remote should be sending but has been silent too long.
    pub(crate) fn check_timeouts(&mut self, now: Instant) {
        let media = &self.settings.media;
        for slot in self.legs.iter_mut().flatten() {
            let Some(remote) = slot.remote.as_ref() else {
                continue;
            };
            let limit = if slot.holds() || !remote.recv {
                media.hold_timeout_s
            } else {
                media.timeout_s
            };
            if limit == 0 || slot.timed_out {
                continue;
            }
            let silent = now.saturating_duration_since(slot.last_rx);
            if silent >= Duration::from_secs(u64::from(limit)) {
                slot.timed_out = true;
                self.shared
                    .media_timeouts
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if let Some(Some(session)) = self.sessions.get(slot.session) {
                    let _ = session.events.try_send(MediaEvent::Timeout {
                        leg: slot.id,
                        silent_for: silent,
                    });
                }
            }
        }
    }

    fn record_leg(&mut self, leg: super::MediaLegId, path: std::path::PathBuf, max: Duration) {
        let Some(&i) = self.leg_index.get(&leg) else {
            return;
        };
        let id = self.recorder.open_mono(path, self.events_of_leg(i));
        if let Some(Some(l)) = self.legs.get_mut(i) {
            l.voicemail = Some(MonoTap {
                id,
                channel: RecordingChannel::new(RecordingRate::Narrowband, Side::Caller),
                pending: Vec::new(),
                written: Duration::ZERO,
                max,
            });
            let s = l.session;
            self.refresh_session(s);
        }
    }

    fn finish_voicemail(&mut self, i: usize, reached_max: bool) {
        let Some(Some(leg)) = self.legs.get_mut(i) else {
            return;
        };
        let Some(mut tap) = leg.voicemail.take() else {
            return;
        };
        let (id, s) = (leg.id, leg.session);
        tap.flush(&self.recorder);
        self.close_recording(tap.id);
        if let Some(Some(session)) = self.sessions.get(s) {
            let _ = session.events.try_send(MediaEvent::RecordDone {
                leg: id,
                duration: tap.written,
                reached_max,
            });
        }
        self.refresh_session(s);
    }

    pub(crate) fn events_of_leg(&self, i: usize) -> Option<mpsc::Sender<MediaEvent>> {
        let leg = self.legs.get(i)?.as_ref()?;
        Some(self.sessions.get(leg.session)?.as_ref()?.events.clone())
    }
}

fn session_peer(bridge: Option<(usize, usize)>, i: usize) -> Option<usize> {
    match bridge {
        Some((a, b)) if a == i => Some(b),
        Some((a, b)) if b == i => Some(a),
        _ => None,
    }
}
