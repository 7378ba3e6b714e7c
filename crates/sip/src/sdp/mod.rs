//! SDP offer/answer for a media-anchoring B2BUA (RFC 4566, RFC 3264).
//!
//! Switchboard answers every offer with its *own* address and port (media flows through our
//! media engine, never end to end) and makes its own offers to callees, so what this module
//! needs from SDP is narrow: where the peer wants audio, in which codecs, in which direction,
//! with which packetisation and RTCP port. It turns a body into that model ([`parse`]), answers
//! an offer ([`answer`], RFC 3264 §6), makes an offer ([`offer`], §5) and reads the answer to it
//! ([`accept_answer`], §7). Every outcome is a [`Negotiated`] stream or an [`SdpError`] that
//! knows the SIP status it calls for ([`SdpError::status`]: 400 or 488).
//!
//! # Parsing, and what `ezk-sdp-types` does for us
//! `ezk-sdp-types` parses the origin, connection and attribute lines. Before it sees the body we
//! check and keep the lines ourselves, for three reasons found by reading its parser:
//! * it accepts a body without `v=` (the line is optional to it), so we require `v=0` first;
//! * it silently drops `m=` formats it cannot read as `u8` and refuses media types other than
//!   audio/video/text/application, so a T.38 re-offer (`m=image 0 udptl t38`) or an MSRP line
//!   would fail the whole body with 400 instead of being refused with port 0; we tokenise the
//!   `m=` lines ourselves and give it a neutral media token;
//! * one attribute it cannot parse (an unusual `a=crypto`, `a=candidate`, `a=ssrc`…) fails the
//!   whole body, so we hand it only the attributes we act on (`rtpmap`, `fmtp`, `rtcp`,
//!   `rtcp-mux`, the four directions, `ptime`, `maxptime`).
//!
//! Printing is our own (the `print` module): the answer and offer are small and their exact text is
//! asserted in tests.
//!
//! # Leniency (and why)
//! * A dynamic payload type without `a=rtpmap` is kept with an empty encoding that never
//!   matches, rather than failing a call that also offers PCMU.
//! * An `a=rtpmap` for a payload type that is not on its `m=` line is an error (400): the body
//!   contradicts itself, and guessing which line is right would negotiate the wrong codec.
//! * `c=0.0.0.0` (the RFC 2543 hold, RFC 3264 §8.4) removes "receive" from the stream's
//!   direction: a peer at 0.0.0.0 cannot receive whatever it says. `c=IN IP6 ::` is read the
//!   same way.
//!
//! # Sanity (and why)
//! An SDP body tells us where to send media, so it is outside input with consequences:
//! * at most [`SdpLimits::max_media`] `m=` lines (16 by default): a body with a thousand of them
//!   costs a thousand stream descriptions to parse and answer, for a call that wants one;
//! * unicast connection addresses only: a multicast `c=` (224.0.0.0/4, ff00::/8) or the
//!   broadcast address would make us send one call's audio to a group or a whole network. An
//!   `a=rtcp` address that is unspecified is ignored (RTCP follows the RTP host); a multicast or
//!   broadcast one is refused like a `c=` line.
//!
//! Both are refused with 488 Not Acceptable Here; [`SdpError::warning`] gives the RFC 3261
//! §20.43 Warning that says why (330 multicast, 301 address, 399 too many streams; 304 and 305
//! for no usable stream or codec), and [`refusal_warning`] finds it for a whole offer.
//!
//! ```
//! use switchboard_sip::sdp::{self, CodecOrder, CodecPref, LocalMedia, SdpOrigin};
//!
//! let offer = sdp::parse(
//!     b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
//!       m=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\n",
//! )
//! .unwrap();
//! let local = LocalMedia { addr: "198.51.100.1".parse().unwrap(), port: 20000 };
//! let mut origin = SdpOrigin::new(42, 1);
//! let (body, negotiated) =
//!     sdp::answer(&offer, &local, &[CodecPref::pcma(), CodecPref::pcmu()], CodecOrder::Ours, &mut origin)
//!         .unwrap();
//! assert_eq!(negotiated.codec.encoding, "PCMA");
//! assert_eq!(negotiated.telephone_event, Some(101));
//! assert_eq!(negotiated.remote_rtp, "192.0.2.10:49170".parse().unwrap());
//! assert!(std::str::from_utf8(&body).unwrap().contains("m=audio 20000 RTP/AVP 8 0 101\r\n"));
//! ```

mod negotiate;
mod parse;
mod print;

use std::net::IpAddr;

pub use negotiate::{
    CodecOrder, CodecPref, LocalMedia, Negotiated, SdpOrigin, accept_answer, answer, offer,
};
pub use parse::{parse, parse_with};

/// Limits on what an SDP body may ask of us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpLimits {
    /// The most `m=` lines a body may have (RFC 3264 answers must mirror them all).
    pub max_media: usize,
}

impl Default for SdpLimits {
    fn default() -> Self {
        SdpLimits { max_media: 16 }
    }
}

/// An RFC 3261 §20.43 warning: the code and its standard text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// The warn-code (3xx: a problem with the session description).
    pub code: u16,
    /// The warn-text.
    pub text: &'static str,
}

impl Warning {
    /// The Warning header's value, with `agent` (our host) as warn-agent.
    #[must_use]
    pub fn header_value(&self, agent: &str) -> String {
        format!("{} {agent} \"{}\"", self.code, self.text)
    }
}

/// The Warning a 488 refusing `offer` should carry: why the SDP parser refused it, or else why
/// no stream in it can be served (no audio over RTP/AVP: 304 or 302; audio in codecs we lack:
/// 305). `None` when the body is not valid SDP at all (that is a 400, without a warning).
#[must_use]
pub fn refusal_warning(offer: &[u8], limits: &SdpLimits) -> Option<Warning> {
    let parsed = match parse_with(offer, limits) {
        Ok(parsed) => parsed,
        Err(err) => return err.warning(),
    };
    let active_audio = |m: &&MediaDescription| m.kind == MediaKind::Audio && m.port != 0;
    if parsed
        .media
        .iter()
        .filter(active_audio)
        .any(|m| matches!(m.protocol, Protocol::RtpAvp | Protocol::RtpAvpf))
    {
        SdpError::NoCommonCodec.warning()
    } else if parsed.media.iter().any(|m| active_audio(&m)) {
        Some(Warning {
            code: 302,
            text: "Incompatible transport protocol",
        })
    } else {
        SdpError::NoAcceptableMedia.warning()
    }
}

/// Why a body could not be parsed or negotiated. [`SdpError::status`] gives the SIP response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body is not UTF-8 text.
    #[error("SDP body is not UTF-8")]
    NotUtf8,
    /// The body does not start with `v=0` (RFC 4566 §5.1).
    #[error("SDP body does not start with v=0")]
    MissingVersion,
    /// A mandatory line is missing (`o=`, `s=` or `t=`, RFC 4566 §5).
    #[error("SDP body has no {0}= line")]
    MissingLine(char),
    /// A line does not follow the RFC 4566 grammar.
    #[error("SDP syntax error on line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// An `m=` port is not a number in 0..=65535.
    #[error("SDP m= line {line}: port out of range")]
    PortOutOfRange {
        /// 1-based line number.
        line: usize,
    },
    /// An RTP `m=` format is not a payload type in 0..=127.
    #[error("SDP m= line {line}: format is not a payload type 0..=127")]
    BadPayloadType {
        /// 1-based line number.
        line: usize,
    },
    /// An `a=rtpmap` names a payload type its `m=` line does not list.
    #[error("SDP a=rtpmap for payload type {pt}, which its m= line does not list")]
    RtpmapForUnknownPt {
        /// The payload type.
        pt: u8,
    },
    /// The parser underneath rejected an origin, connection or attribute line.
    #[error("SDP line rejected: {0}")]
    Malformed(String),
    /// An active stream has no connection address (RFC 4566 §5.7).
    #[error("SDP media {index} has no c= line and the session has none")]
    MissingConnection {
        /// 0-based index of the m= line.
        index: usize,
    },
    /// A connection address is a host name; a sans-IO core cannot resolve it.
    #[error("SDP connection address is a host name, not an IP address")]
    HostnameAddress,
    /// A connection (or `a=rtcp`) address is multicast or broadcast: we send media to unicast
    /// addresses only.
    #[error("SDP address {0} is not a unicast address")]
    NotUnicast(IpAddr),
    /// More `m=` lines than [`SdpLimits::max_media`].
    #[error("SDP body has more than {max} m= lines")]
    TooManyMedia {
        /// The limit.
        max: usize,
    },
    /// No audio stream offered (or answered) that we can serve.
    #[error("no audio stream we can serve")]
    NoAcceptableMedia,
    /// An audio stream was offered but shares no codec with us.
    #[error("no codec in common")]
    NoCommonCodec,
    /// The answer does not mirror the offer's m= lines (RFC 3264 §6).
    #[error("SDP answer has {answer} m= lines for {offer} offered")]
    AnswerMismatch {
        /// m= lines in the offer.
        offer: usize,
        /// m= lines in the answer.
        answer: usize,
    },
    /// The answerer refused our audio stream (port 0).
    #[error("the answerer rejected the audio stream")]
    MediaRejected,
}

impl SdpError {
    /// The SIP status a request carrying this body deserves: 488 Not Acceptable Here when the
    /// SDP is fine but we cannot use it (RFC 3261 §13.3.1.1, RFC 3264 §6), 400 Bad Request when
    /// it is not valid SDP.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::HostnameAddress
            | Self::NotUnicast(_)
            | Self::TooManyMedia { .. }
            | Self::NoAcceptableMedia
            | Self::NoCommonCodec
            | Self::MediaRejected => 488,
            _ => 400,
        }
    }

    /// The RFC 3261 §20.43 Warning a 488 for this error carries (`None` for a 400).
    #[must_use]
    pub fn warning(&self) -> Option<Warning> {
        let (code, text) = match self {
            Self::NotUnicast(ip) if ip.to_canonical().is_multicast() => {
                (330, "Multicast not available")
            }
            Self::HostnameAddress | Self::NotUnicast(_) => {
                (301, "Incompatible network address formats")
            }
            Self::TooManyMedia { .. } => (399, "Too many media streams"),
            Self::NoAcceptableMedia | Self::MediaRejected => (304, "Media type not available"),
            Self::NoCommonCodec => (305, "Incompatible media format"),
            _ => return None,
        };
        Some(Warning { code, text })
    }
}

/// A parsed session description: what Switchboard acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription {
    /// The `o=` line.
    pub origin: Origin,
    /// Session-level `c=` address, if any.
    pub connection: Option<IpAddr>,
    /// One entry per `m=` line, in order.
    pub media: Vec<MediaDescription>,
}

/// The `o=` line (RFC 4566 §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The user name (`-` when none).
    pub username: String,
    /// The session id, a numeric string kept as text (it may exceed 64 bits).
    pub session_id: String,
    /// The session version; RFC 3264 §8 increments it with every changed description.
    pub version: u64,
    /// The originator's address as written (an IP or a host name).
    pub addr: String,
}

/// The media type of an `m=` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaKind {
    /// `audio`.
    Audio,
    /// `video`.
    Video,
    /// Anything else (`image` for T.38, `application`, `message`, `text`), as written.
    Other(String),
}

/// The transport protocol of an `m=` line (RFC 4566 §5.14, RFC 4585, RFC 5764).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protocol {
    /// `RTP/AVP`: plain RTP, the one we serve.
    RtpAvp,
    /// `RTP/AVPF`: RTP with feedback; served as RTP/AVP (we send no feedback).
    RtpAvpf,
    /// `RTP/SAVP`: SRTP (SDES keys); refused until the SRTP transport lands.
    RtpSavp,
    /// `RTP/SAVPF`.
    RtpSavpf,
    /// `UDP/TLS/RTP/SAVP` or `UDP/TLS/RTP/SAVPF` (DTLS-SRTP, WebRTC).
    DtlsSrtp(String),
    /// Anything else (`udptl`, `TCP/MSRP`…), as written.
    Other(String),
}

impl Protocol {
    fn from_token(token: &str) -> Self {
        match token {
            "RTP/AVP" => Self::RtpAvp,
            "RTP/AVPF" => Self::RtpAvpf,
            "RTP/SAVP" => Self::RtpSavp,
            "RTP/SAVPF" => Self::RtpSavpf,
            "UDP/TLS/RTP/SAVP" | "UDP/TLS/RTP/SAVPF" => Self::DtlsSrtp(token.to_owned()),
            other => Self::Other(other.to_owned()),
        }
    }

    /// The token as written on the `m=` line.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::RtpAvp => "RTP/AVP",
            Self::RtpAvpf => "RTP/AVPF",
            Self::RtpSavp => "RTP/SAVP",
            Self::RtpSavpf => "RTP/SAVPF",
            Self::DtlsSrtp(s) | Self::Other(s) => s,
        }
    }

    /// Whether the formats are RTP payload types.
    #[must_use]
    pub fn is_rtp(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

/// The direction attribute (RFC 3264 §5.1), from the point of view of the side that wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MediaDirection {
    /// Sends and receives (the default when no attribute is given).
    #[default]
    SendRecv,
    /// Only sends.
    SendOnly,
    /// Only receives.
    RecvOnly,
    /// Neither.
    Inactive,
}

impl MediaDirection {
    /// The direction the other side answers with (RFC 3264 §6.1): sendonly ↔ recvonly.
    #[must_use]
    pub fn reversed(self) -> Self {
        match self {
            Self::SendOnly => Self::RecvOnly,
            Self::RecvOnly => Self::SendOnly,
            other => other,
        }
    }

    /// The same direction without receiving (for a peer at `c=0.0.0.0`).
    #[must_use]
    pub fn without_recv(self) -> Self {
        match self {
            Self::SendRecv | Self::SendOnly => Self::SendOnly,
            Self::RecvOnly | Self::Inactive => Self::Inactive,
        }
    }

    /// The attribute name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SendRecv => "sendrecv",
            Self::SendOnly => "sendonly",
            Self::RecvOnly => "recvonly",
            Self::Inactive => "inactive",
        }
    }
}

/// One RTP format of an `m=` line, its `a=rtpmap` resolved (or taken from the RFC 3551 table
/// for static payload types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// The payload type, 0..=127.
    pub pt: u8,
    /// The encoding name as written (`PCMU`, `opus`, `telephone-event`); compare it with
    /// [`Format::is`], case-insensitively (RFC 4566 §6). Empty for an unmapped dynamic type.
    pub encoding: String,
    /// RTP clock rate in Hz (0 for an unmapped dynamic type).
    pub clock_rate: u32,
    /// Audio channels (1 unless the rtpmap says otherwise).
    pub channels: u8,
    /// The `a=fmtp` parameters, as written.
    pub fmtp: Option<String>,
}

impl Format {
    /// Whether this is `encoding` (case-insensitive) at `clock_rate` with `channels`.
    #[must_use]
    pub fn is(&self, encoding: &str, clock_rate: u32, channels: u8) -> bool {
        !self.encoding.is_empty()
            && self.encoding.eq_ignore_ascii_case(encoding)
            && self.clock_rate == clock_rate
            && self.channels == channels
    }

    /// Whether this is RFC 4733 `telephone-event`.
    #[must_use]
    pub fn is_telephone_event(&self) -> bool {
        self.encoding.eq_ignore_ascii_case("telephone-event")
    }
}

/// `a=rtcp` (RFC 3605): where the peer wants RTCP when not on RTP port + 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcpAttr {
    /// The RTCP port.
    pub port: u16,
    /// The RTCP address, when it differs from the connection address.
    pub addr: Option<IpAddr>,
}

/// One `m=` line and its attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// The media type.
    pub kind: MediaKind,
    /// The port; 0 means the stream is disabled or refused (RFC 3264 §5.1, §6).
    pub port: u16,
    /// The transport protocol.
    pub protocol: Protocol,
    /// The connection address: the media-level `c=`, else the session-level one.
    pub connection: Option<IpAddr>,
    /// The format tokens as written on the `m=` line (also for non-RTP protocols).
    pub format_tokens: Vec<String>,
    /// The RTP formats, in the `m=` line's order (empty for non-RTP protocols).
    pub formats: Vec<Format>,
    /// The direction: media-level over session-level, `sendrecv` by default, with `c=0.0.0.0`
    /// taken as "does not receive" (see the module docs).
    pub direction: MediaDirection,
    /// `a=ptime`, milliseconds of audio per packet.
    pub ptime: Option<u32>,
    /// `a=maxptime`.
    pub maxptime: Option<u32>,
    /// `a=rtcp` (RFC 3605).
    pub rtcp: Option<RtcpAttr>,
    /// `a=rtcp-mux` (RFC 5761).
    pub rtcp_mux: bool,
}

/// The RFC 3551 §6 static payload types (Tables 4 and 5): encoding, clock rate, channels.
#[must_use]
pub fn static_payload_type(pt: u8) -> Option<(&'static str, u32, u8)> {
    Some(match pt {
        0 => ("PCMU", 8000, 1),
        3 => ("GSM", 8000, 1),
        4 => ("G723", 8000, 1),
        5 => ("DVI4", 8000, 1),
        6 => ("DVI4", 16000, 1),
        7 => ("LPC", 8000, 1),
        8 => ("PCMA", 8000, 1),
        // G.722 samples at 16 kHz but its RTP clock is 8 kHz (RFC 3551 §4.5.2).
        9 => ("G722", 8000, 1),
        10 => ("L16", 44100, 2),
        11 => ("L16", 44100, 1),
        12 => ("QCELP", 8000, 1),
        13 => ("CN", 8000, 1),
        14 => ("MPA", 90000, 1),
        15 => ("G728", 8000, 1),
        16 => ("DVI4", 11025, 1),
        17 => ("DVI4", 22050, 1),
        18 => ("G729", 8000, 1),
        25 => ("CelB", 90000, 1),
        26 => ("JPEG", 90000, 1),
        28 => ("nv", 90000, 1),
        31 => ("H261", 90000, 1),
        32 => ("MPV", 90000, 1),
        33 => ("MP2T", 90000, 1),
        34 => ("H263", 90000, 1),
        _ => return None,
    })
}
