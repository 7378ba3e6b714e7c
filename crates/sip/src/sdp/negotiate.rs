//! Offer/answer (RFC 3264): answering an offer with our address, making our own offer, reading
//! the answer to it, and the `o=` version rule of §8.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;

use super::print::{self, AnswerLine, MediaBlock};
use super::{
    Format, MediaDescription, MediaDirection, MediaKind, Protocol, SdpError, SessionDescription,
};

/// A codec we can handle, in our order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecPref {
    /// Encoding name (`PCMA`, `opus`…), compared case-insensitively.
    pub encoding: String,
    /// RTP clock rate in Hz.
    pub clock_rate: u32,
    /// Channels (1 for telephony, 2 for Opus per RFC 7587).
    pub channels: u8,
    /// The `a=fmtp` we put in our answers and offers for it.
    pub fmtp: Option<String>,
}

impl CodecPref {
    /// A codec without fmtp.
    #[must_use]
    pub fn new(encoding: &str, clock_rate: u32, channels: u8) -> Self {
        Self {
            encoding: encoding.to_owned(),
            clock_rate,
            channels,
            fmtp: None,
        }
    }

    /// G.711 A-law.
    #[must_use]
    pub fn pcma() -> Self {
        Self::new("PCMA", 8000, 1)
    }

    /// G.711 µ-law.
    #[must_use]
    pub fn pcmu() -> Self {
        Self::new("PCMU", 8000, 1)
    }

    /// G.722 (8 kHz RTP clock, RFC 3551 §4.5.2).
    #[must_use]
    pub fn g722() -> Self {
        Self::new("G722", 8000, 1)
    }

    /// Opus, always `opus/48000/2` in SDP (RFC 7587 §7).
    #[must_use]
    pub fn opus() -> Self {
        Self::new("opus", 48_000, 2)
    }

    fn matches(&self, f: &Format) -> bool {
        f.is(&self.encoding, self.clock_rate, self.channels)
    }
}

/// Whose order decides the answer's codec list (and so the codec both sides use first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CodecOrder {
    /// The offerer's order (RFC 3264 §6.1 recommends honouring it).
    #[default]
    Offerer,
    /// Our order of preference (e.g. to avoid transcoding towards a G.711-only trunk).
    Ours,
}

/// Our RTP address for a leg: what goes into `c=` and `m=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalMedia {
    /// The media engine's address as the peer must reach it.
    pub addr: IpAddr,
    /// The RTP port (RTCP on the next one).
    pub port: u16,
}

/// The `o=` line we write for one leg, and the RFC 3264 §8 rule for its version: the version
/// grows by one with every offer or answer that differs from the previous one, and stays the
/// same when the description is unchanged (a re-INVITE for a session refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpOrigin {
    /// The session id (from the leg's seeded RNG; constant for the session).
    pub session_id: u64,
    /// The version of the last description written.
    pub version: u64,
    /// The last description written, without its `o=` line; `None` before the first.
    last: Option<String>,
}

impl SdpOrigin {
    /// An origin whose first description will carry `version`.
    #[must_use]
    pub fn new(session_id: u64, version: u64) -> Self {
        Self {
            session_id,
            version,
            last: None,
        }
    }

    /// The version for a description whose lines other than `o=` are `body`.
    pub(super) fn stamp(&mut self, body: &str) -> u64 {
        match &self.last {
            Some(last) if last == body => {}
            Some(_) => {
                self.version = self.version.wrapping_add(1);
                self.last = Some(body.to_owned());
            }
            None => self.last = Some(body.to_owned()),
        }
        self.version
    }
}

/// The audio stream both sides agreed on, from our point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The codec to send with, with the payload type the peer expects.
    pub codec: Format,
    /// The peer's RFC 4733 payload type, if both sides do telephone-event.
    pub telephone_event: Option<u8>,
    /// Where to send RTP. An unspecified IP (`c=0.0.0.0`, RFC 3264 §8.4) means: send nothing.
    pub remote_rtp: SocketAddr,
    /// Where to send RTCP: the RTP address with rtcp-mux, the `a=rtcp` port, else RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// RTP and RTCP share the port (RFC 5761).
    pub rtcp_mux: bool,
    /// What *we* do on the stream (sendrecv, or the direction a hold gives us).
    pub direction: MediaDirection,
    /// The peer's `a=ptime`, if given.
    pub ptime: Option<u32>,
}

/// Whether we can serve this offered stream at all: active audio over plain RTP (AVPF is
/// answered as itself, and we simply send no feedback).
fn servable(m: &MediaDescription) -> bool {
    m.kind == MediaKind::Audio
        && m.port != 0
        && matches!(m.protocol, Protocol::RtpAvp | Protocol::RtpAvpf)
}

/// The codecs of `offered` we share, in the chosen order, each paired with our preference.
fn shared<'a>(
    offered: &'a MediaDescription,
    ours: &'a [CodecPref],
    order: CodecOrder,
) -> Vec<(&'a Format, &'a CodecPref)> {
    let audio = |f: &&Format| !f.is_telephone_event();
    match order {
        CodecOrder::Offerer => offered
            .formats
            .iter()
            .filter(audio)
            .filter_map(|f| ours.iter().find(|p| p.matches(f)).map(|p| (f, p)))
            .collect(),
        CodecOrder::Ours => ours
            .iter()
            .filter_map(|p| {
                offered
                    .formats
                    .iter()
                    .filter(audio)
                    .find(|f| p.matches(f))
                    .map(|f| (f, p))
            })
            .collect(),
    }
}

/// The telephone-event format to use with `codec`: the one at its clock rate (RFC 4733 §2.1),
/// else the first offered.
fn telephone_event<'a>(formats: &'a [Format], codec: &Format) -> Option<&'a Format> {
    let mut events = formats.iter().filter(|f| f.is_telephone_event());
    let first = events.clone().next();
    events.find(|f| f.clock_rate == codec.clock_rate).or(first)
}

/// Where the peer wants RTCP (RFC 5761, RFC 3605, RFC 3550 §11).
fn rtcp_target(m: &MediaDescription, rtp: SocketAddr) -> Option<SocketAddr> {
    if m.rtcp_mux {
        return Some(rtp);
    }
    match m.rtcp {
        Some(r) => Some(SocketAddr::new(r.addr.unwrap_or(rtp.ip()), r.port)),
        None => rtp
            .port()
            .checked_add(1)
            .map(|p| SocketAddr::new(rtp.ip(), p)),
    }
}

/// Answers an offer (RFC 3264 §6): one `m=` line per offered line, in order; the first audio
/// stream we can serve gets our address, the codecs we share (in `order`) and telephone-event
/// when offered, with the offerer's payload type numbers; every other stream is refused with
/// port 0. The direction is the offer's reversed (§6.1), `a=ptime` is echoed, `a=rtcp-mux`
/// accepted when offered. `origin`'s version follows §8.
///
/// # Errors
/// [`SdpError::NoCommonCodec`] (488) when an audio stream is offered but shares no codec with
/// `supported`; [`SdpError::NoAcceptableMedia`] (488) when no servable audio stream is offered.
pub fn answer(
    offer: &SessionDescription,
    local: &LocalMedia,
    supported: &[CodecPref],
    order: CodecOrder,
    origin: &mut SdpOrigin,
) -> Result<(Bytes, Negotiated), SdpError> {
    let mut chosen: Option<(usize, Vec<(&Format, &CodecPref)>)> = None;
    let mut saw_audio = false;
    for (i, m) in offer.media.iter().enumerate() {
        if !servable(m) {
            continue;
        }
        saw_audio = true;
        let common = shared(m, supported, order);
        if !common.is_empty() {
            chosen = Some((i, common));
            break;
        }
    }
    let Some((index, common)) = chosen else {
        return Err(if saw_audio {
            SdpError::NoCommonCodec
        } else {
            SdpError::NoAcceptableMedia
        });
    };
    let m = &offer.media[index];
    let codec = common[0].0.clone();
    let event = telephone_event(&m.formats, &codec);
    let direction = m.direction.reversed();
    let mut lines: Vec<AnswerLine<'_>> = common
        .iter()
        .map(|(f, p)| AnswerLine {
            format: f,
            fmtp: p.fmtp.as_deref().or(f.fmtp.as_deref()),
        })
        .collect();
    if let Some(e) = event {
        lines.push(AnswerLine {
            format: e,
            fmtp: e.fmtp.as_deref(),
        });
    }
    let blocks: Vec<MediaBlock<'_>> = offer
        .media
        .iter()
        .enumerate()
        .map(|(i, om)| {
            if i == index {
                MediaBlock::Active {
                    kind: "audio",
                    port: local.port,
                    protocol: om.protocol.as_str(),
                    lines: &lines,
                    direction,
                    ptime: om.ptime,
                    rtcp_mux: om.rtcp_mux,
                }
            } else {
                MediaBlock::Refused { media: om }
            }
        })
        .collect();
    let bytes = print::session(local.addr, origin, &blocks);
    let remote_ip = m.connection.ok_or(SdpError::MissingConnection { index })?;
    let remote_rtp = SocketAddr::new(remote_ip, m.port);
    let negotiated = Negotiated {
        codec,
        telephone_event: event.map(|e| e.pt),
        remote_rtp,
        remote_rtcp: rtcp_target(m, remote_rtp),
        rtcp_mux: m.rtcp_mux,
        direction,
        ptime: m.ptime,
    };
    Ok((bytes, negotiated))
}

/// Makes our offer (RFC 3264 §5): one audio stream at `local` with `codecs` in our order —
/// static payload types where RFC 3551 has one, dynamic ones from 96 up otherwise — plus
/// telephone-event (0-16) at each clock rate of the offered codecs when asked.
#[must_use]
pub fn offer(
    local: &LocalMedia,
    codecs: &[CodecPref],
    telephone_event: bool,
    direction: MediaDirection,
    origin: &mut SdpOrigin,
) -> Bytes {
    let mut formats: Vec<Format> = Vec::with_capacity(codecs.len() + 2);
    for c in codecs {
        let static_pt = (0..=34_u8).find(|&pt| {
            super::static_payload_type(pt).is_some_and(|(e, r, ch)| {
                c.encoding.eq_ignore_ascii_case(e) && c.clock_rate == r && c.channels == ch
            })
        });
        // Past 32 dynamic codecs there is no payload type left; the rest are not offered.
        let Some(pt) = static_pt.or_else(|| free_dynamic(&formats, 96)) else {
            continue;
        };
        formats.push(Format {
            pt,
            encoding: c.encoding.clone(),
            clock_rate: c.clock_rate,
            channels: c.channels,
            fmtp: c.fmtp.clone(),
        });
    }
    if telephone_event {
        let mut rates: Vec<u32> = formats.iter().map(|f| f.clock_rate).collect();
        rates.sort_unstable();
        rates.dedup();
        for rate in rates {
            // 101 is what most peers use for 8 kHz events; any free dynamic type otherwise.
            let preferred = if rate == 8000 { 101 } else { 96 };
            let Some(pt) = free_dynamic(&formats, preferred).or_else(|| free_dynamic(&formats, 96))
            else {
                continue;
            };
            formats.push(Format {
                pt,
                encoding: "telephone-event".into(),
                clock_rate: rate,
                channels: 1,
                fmtp: Some("0-16".into()),
            });
        }
    }
    let lines: Vec<AnswerLine<'_>> = formats
        .iter()
        .map(|f| AnswerLine {
            format: f,
            fmtp: f.fmtp.as_deref(),
        })
        .collect();
    let block = MediaBlock::Active {
        kind: "audio",
        port: local.port,
        protocol: "RTP/AVP",
        lines: &lines,
        direction,
        ptime: None,
        rtcp_mux: false,
    };
    print::session(local.addr, origin, &[block])
}

/// The first dynamic payload type from `from` up that `formats` does not use.
fn free_dynamic(formats: &[Format], from: u8) -> Option<u8> {
    (from.max(96)..=127).find(|pt| !formats.iter().any(|f| f.pt == *pt))
}

/// Reads the answer to our offer (RFC 3264 §5.1, §7): the same number of `m=` lines; our audio
/// stream (the first active audio line of the offer) accepted with a port; the codec is the
/// answerer's first format that we offered, with the answerer's payload type.
///
/// # Errors
/// [`SdpError::AnswerMismatch`] (400) when the `m=` lines do not mirror the offer,
/// [`SdpError::MediaRejected`] (488) when the answerer refused the audio stream,
/// [`SdpError::NoCommonCodec`] (488) when it answered only formats we did not offer.
pub fn accept_answer(
    offer_sent: &SessionDescription,
    answer: &SessionDescription,
) -> Result<Negotiated, SdpError> {
    if offer_sent.media.len() != answer.media.len() {
        return Err(SdpError::AnswerMismatch {
            offer: offer_sent.media.len(),
            answer: answer.media.len(),
        });
    }
    let index = offer_sent
        .media
        .iter()
        .position(servable)
        .ok_or(SdpError::NoAcceptableMedia)?;
    let (ours, theirs) = (&offer_sent.media[index], &answer.media[index]);
    if theirs.port == 0 {
        return Err(SdpError::MediaRejected);
    }
    let offered = |f: &Format| {
        ours.formats
            .iter()
            .any(|o| o.is(&f.encoding, f.clock_rate, f.channels))
    };
    let codec = theirs
        .formats
        .iter()
        .filter(|f| !f.is_telephone_event())
        .find(|f| offered(f))
        .ok_or(SdpError::NoCommonCodec)?;
    let event = telephone_event(&theirs.formats, codec).filter(|e| offered(e));
    let remote_ip = theirs
        .connection
        .ok_or(SdpError::MissingConnection { index })?;
    let remote_rtp = SocketAddr::new(remote_ip, theirs.port);
    let rtcp_mux = theirs.rtcp_mux && ours.rtcp_mux;
    let mut remote = theirs.clone();
    remote.rtcp_mux = rtcp_mux;
    Ok(Negotiated {
        codec: codec.clone(),
        telephone_event: event.map(|e| e.pt),
        remote_rtp,
        remote_rtcp: rtcp_target(&remote, remote_rtp),
        rtcp_mux,
        // The answer's direction is the answerer's; ours is its reverse (RFC 3264 §6.1).
        direction: theirs.direction.reversed(),
        ptime: theirs.ptime,
    })
}
