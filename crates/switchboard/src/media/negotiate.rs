//! SDP glue for the anchored media: the codecs from `[media] codecs` as SDP preferences, our
//! answers to offers and our offers to callees (RFC 3264, through `switchboard_sip::sdp`), and
//! what the remote agreed to turned into a [`RemoteMedia`] for the worker.

use std::net::SocketAddr;

use bytes::Bytes;
use switchboard_media::codec::{CodecKind, CodecParams, OpusFmtp, OpusRate, parse_opus_fmtp};
use switchboard_sip::sdp::{
    self, CodecOrder, CodecPref, MediaDirection, Negotiated, SdpError, SdpLimits, SdpOrigin,
    SessionDescription,
};

use super::{LocalMedia, RemoteMedia};
use crate::config::MediaConfig;

/// Why an offer or answer could not be used; `status` is the SIP answer to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct NegotiationError {
    /// 400 (not valid SDP) or 488 (nothing we can use).
    pub status: u16,
    /// What was wrong, for the log.
    pub message: String,
}

impl From<SdpError> for NegotiationError {
    fn from(err: SdpError) -> Self {
        NegotiationError {
            status: err.status(),
            message: err.to_string(),
        }
    }
}

/// Our codec preferences and packet time.
#[derive(Debug, Clone)]
pub struct Negotiation {
    codecs: Vec<CodecKind>,
    ptime_ms: u32,
    /// The Opus PCM rate when nothing else decides it (the recording's rate).
    opus_rate: OpusRate,
    /// What an SDP body may ask of us (`[media] max_sdp_media`).
    limits: SdpLimits,
}

/// Our offer to a callee, kept to read its answer.
#[derive(Debug, Clone)]
pub struct OfferSent {
    /// The offer as sent.
    pub sdp: Bytes,
    parsed: SessionDescription,
}

impl Negotiation {
    /// From `[media]` (codec names already validated).
    #[must_use]
    pub fn new(media: &MediaConfig) -> Self {
        let codecs = media
            .codecs
            .iter()
            .filter_map(|name| kind_by_name(name))
            .collect();
        Negotiation {
            codecs,
            ptime_ms: media.ptime_ms,
            opus_rate: OpusRate::Narrowband,
            limits: SdpLimits {
                max_media: media.max_sdp_media,
            },
        }
    }

    /// Whether an offer can be answered at all: valid SDP within our limits (unicast addresses,
    /// not too many streams) with an audio stream in a codec we have. Checked when a call
    /// arrives, so a hopeless offer is refused before anyone's phone rings.
    ///
    /// # Errors
    /// 400 for an offer that is not valid SDP, 488 for one we cannot use.
    pub fn check_offer(&self, offer: &[u8]) -> Result<(), NegotiationError> {
        let parsed = self.parse(offer)?;
        let local = sdp::LocalMedia {
            addr: std::net::IpAddr::from([0, 0, 0, 0]),
            port: 9,
        };
        let mut origin = SdpOrigin::new(0, 0);
        let (_, negotiated) = sdp::answer(
            &parsed,
            &local,
            &self.prefs(&[]),
            CodecOrder::Offerer,
            &mut origin,
        )?;
        self.remote(&negotiated, None).map(|_| ())
    }

    fn parse(&self, body: &[u8]) -> Result<SessionDescription, SdpError> {
        sdp::parse_with(body, &self.limits)
    }

    /// With the Opus PCM rate used when a leg is not transcoded to another codec.
    #[must_use]
    pub fn with_opus_rate(mut self, rate_hz: u32) -> Self {
        self.opus_rate = if rate_hz >= 16_000 {
            OpusRate::Wideband
        } else {
            OpusRate::Narrowband
        };
        self
    }

    fn prefs(&self, first: &[CodecKind]) -> Vec<CodecPref> {
        let mut order: Vec<CodecKind> = first
            .iter()
            .copied()
            .filter(|k| self.codecs.contains(k))
            .collect();
        for k in &self.codecs {
            if !order.contains(k) {
                order.push(*k);
            }
        }
        order.into_iter().map(|k| self.pref(k)).collect()
    }

    fn pref(&self, kind: CodecKind) -> CodecPref {
        let mut pref = CodecPref::new(
            kind.encoding_name(),
            kind.rtp_clock_rate(),
            kind.rtpmap_channels(),
        );
        if kind == CodecKind::Opus {
            let fmtp = OpusFmtp::local(self.opus_rate.hz()).to_fmtp_string();
            pref.fmtp = (!fmtp.is_empty()).then_some(fmtp);
        }
        pref
    }

    /// The codecs an offer lists that we can do, in the offerer's order (empty when it is not
    /// valid SDP; the answer will then say why).
    #[must_use]
    pub fn offered(&self, offer: &[u8]) -> Vec<CodecKind> {
        let Ok(parsed) = self.parse(offer) else {
            return Vec::new();
        };
        parsed
            .media
            .iter()
            .find(|m| m.port != 0)
            .map(|m| {
                m.formats
                    .iter()
                    .filter_map(|f| CodecKind::from_rtpmap(&f.encoding, f.clock_rate, f.channels))
                    .filter(|k| self.codecs.contains(k))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Answers an offer on a leg: codecs in `prefer` first (to avoid transcoding against the
    /// other leg), then the offerer's order among ours.
    ///
    /// # Errors
    /// 400 for an offer that is not valid SDP, 488 when nothing in it is usable.
    pub fn answer(
        &self,
        offer: &[u8],
        local: &LocalMedia,
        origin: &mut SdpOrigin,
        prefer: &[CodecKind],
        other_leg: Option<CodecKind>,
    ) -> Result<(Bytes, RemoteMedia), NegotiationError> {
        let parsed = self.parse(offer)?;
        let offered = self.offered(offer);
        let (prefs, order) = match prefer.iter().find(|k| offered.contains(k)) {
            Some(first) => (self.prefs(&[*first]), CodecOrder::Ours),
            None => (self.prefs(&[]), CodecOrder::Offerer),
        };
        let sdp_local = sdp::LocalMedia {
            addr: local.addr.ip(),
            port: local.addr.port(),
        };
        let (bytes, negotiated) = sdp::answer(&parsed, &sdp_local, &prefs, order, origin)?;
        Ok((bytes, self.remote(&negotiated, other_leg)?))
    }

    /// Our offer to a callee: `first` (the other leg's codecs) listed first so the callee can
    /// pick one and spare us transcoding.
    #[must_use]
    pub fn offer(
        &self,
        local: &LocalMedia,
        origin: &mut SdpOrigin,
        first: &[CodecKind],
    ) -> OfferSent {
        let sdp_local = sdp::LocalMedia {
            addr: local.addr.ip(),
            port: local.addr.port(),
        };
        let bytes = sdp::offer(
            &sdp_local,
            &self.prefs(first),
            true,
            MediaDirection::SendRecv,
            origin,
        );
        // Our own printer's output always parses; should it not, the answer check reports it.
        let parsed = sdp::parse(&bytes).unwrap_or_else(|_| SessionDescription {
            origin: sdp::Origin {
                username: "-".into(),
                session_id: "0".into(),
                version: 0,
                addr: String::new(),
            },
            connection: None,
            media: Vec::new(),
        });
        OfferSent { sdp: bytes, parsed }
    }

    /// Reads a callee's answer to our offer.
    ///
    /// # Errors
    /// When the answer is not valid SDP or refuses our audio.
    pub fn accept(
        &self,
        sent: &OfferSent,
        answer: &[u8],
        other_leg: Option<CodecKind>,
    ) -> Result<RemoteMedia, NegotiationError> {
        let parsed = self.parse(answer)?;
        let negotiated = sdp::accept_answer(&sent.parsed, &parsed)?;
        self.remote(&negotiated, other_leg)
    }

    fn remote(
        &self,
        n: &Negotiated,
        other_leg: Option<CodecKind>,
    ) -> Result<RemoteMedia, NegotiationError> {
        let codec = CodecKind::from_rtpmap(&n.codec.encoding, n.codec.clock_rate, n.codec.channels)
            .ok_or_else(|| NegotiationError {
                status: 488,
                message: format!(
                    "codec {}/{} is not one we can run",
                    n.codec.encoding, n.codec.clock_rate
                ),
            })?;
        let mut params = CodecParams {
            ptime_ms: self.ptime_ms,
            ..CodecParams::default()
        };
        if codec == CodecKind::Opus {
            params.opus_fmtp = n
                .codec
                .fmtp
                .as_deref()
                .map(parse_opus_fmtp)
                .unwrap_or_default();
            params.opus_rate = match other_leg {
                Some(other) if other != CodecKind::Opus => OpusRate::matching(other),
                _ => self.opus_rate,
            };
            if params.ptime_ms == 30 {
                params.ptime_ms = 20;
            }
        }
        let unspecified = n.remote_rtp.ip().is_unspecified();
        let rtp = n.remote_rtp;
        let rtcp = n
            .remote_rtcp
            .unwrap_or_else(|| SocketAddr::new(rtp.ip(), rtp.port().saturating_add(1)));
        let (send, recv) = match n.direction {
            MediaDirection::SendRecv => (true, true),
            MediaDirection::SendOnly => (true, false),
            MediaDirection::RecvOnly => (false, true),
            MediaDirection::Inactive => (false, false),
        };
        Ok(RemoteMedia {
            rtp,
            rtcp,
            rtcp_mux: n.rtcp_mux,
            codec,
            payload_type: n.codec.pt,
            params,
            telephone_event: n.telephone_event,
            // RFC 3264 §8.4: c=0.0.0.0 (RFC 2543 hold) means send nothing there.
            send: send && !unspecified && rtp.port() != 0,
            recv,
            // The SIP leg knows where its signalling comes from; see `SdpLeg`.
            signalling: None,
        })
    }
}

/// The codec of a `[media] codecs` entry.
fn kind_by_name(name: &str) -> Option<CodecKind> {
    [
        CodecKind::Pcma,
        CodecKind::Pcmu,
        CodecKind::G722,
        CodecKind::Opus,
    ]
    .into_iter()
    .find(|k| k.encoding_name().eq_ignore_ascii_case(name))
}

/// The PCM rate a leg with this codec runs at (prompts are decoded to it).
#[must_use]
pub fn pcm_rate(remote: &RemoteMedia) -> u32 {
    remote.params.sample_rate(remote.codec)
}
