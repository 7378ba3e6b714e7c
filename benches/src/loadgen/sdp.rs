//! The SDP the generator offers and answers (RFC 4566, offer/answer of RFC 3264), and the little
//! it reads from the other side's: the connection address, the audio port and the payload types.
//!
//! The generator does not negotiate: the caller offers its one codec plus telephone-event, the
//! agent answers with its own codec whether or not the offer contained it. Today's switch passes
//! the caller's offer to the agent unchanged, so an Opus agent answers an offer without Opus
//! (a protocol violation a real phone would not commit); once the switch anchors media it
//! offers its own codec list to the agent, which then contains Opus and the answer is correct.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Audio codecs the generator can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 A-law, static payload type 8 (RFC 3551 §6).
    Pcma,
    /// G.711 µ-law, static payload type 0.
    Pcmu,
    /// Opus (RFC 7587), dynamic payload type, `opus/48000/2` in SDP.
    Opus,
}

impl Codec {
    /// Parses a command-line name (`PCMA`, `PCMU`, `opus`, any case).
    #[must_use]
    pub fn parse(name: &str) -> Option<Codec> {
        match name.to_ascii_lowercase().as_str() {
            "pcma" => Some(Codec::Pcma),
            "pcmu" => Some(Codec::Pcmu),
            "opus" => Some(Codec::Opus),
            _ => None,
        }
    }

    /// The SDP encoding name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcma => "PCMA",
            Codec::Pcmu => "PCMU",
            Codec::Opus => "opus",
        }
    }

    /// The payload type we use when the other side has not chosen one.
    #[must_use]
    pub fn default_payload_type(self) -> u8 {
        match self {
            Codec::Pcma => 8,
            Codec::Pcmu => 0,
            Codec::Opus => 111,
        }
    }

    /// The RTP clock rate (RFC 3551 §4.5.14; RFC 7587 §4.1: Opus always signals 48 kHz).
    #[must_use]
    pub fn clock_rate(self) -> u32 {
        match self {
            Codec::Pcma | Codec::Pcmu => 8_000,
            Codec::Opus => 48_000,
        }
    }

    /// RTP timestamp ticks per 20 ms packet.
    #[must_use]
    pub fn ticks_per_packet(self) -> u32 {
        self.clock_rate() / 50
    }

    /// The `a=rtpmap` value after the payload type.
    fn rtpmap(self) -> String {
        match self {
            Codec::Opus => "opus/48000/2".to_owned(),
            other => format!("{}/{}", other.name(), other.clock_rate()),
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Payload type of telephone-event when the other side did not pick one.
pub const DEFAULT_DTMF_PT: u8 = 101;

/// What the generator reads from an SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteMedia {
    /// Where to send RTP: the media-level (else session-level) `c=` address and the `m=audio`
    /// port.
    pub rtp: SocketAddr,
    /// Payload types listed on the `m=audio` line, in order.
    pub formats: Vec<u8>,
    /// `a=rtpmap` entries: payload type and encoding name (lower case, without rate).
    pub rtpmap: Vec<(u8, String)>,
}

impl RemoteMedia {
    /// The payload type the other side gave `encoding` (`"opus"`, `"telephone-event"`), or the
    /// static one for G.711 when it is listed on the `m=` line.
    #[must_use]
    pub fn payload_type_of(&self, encoding: &str) -> Option<u8> {
        let encoding = encoding.to_ascii_lowercase();
        self.rtpmap
            .iter()
            .find(|(pt, name)| *name == encoding && self.formats.contains(pt))
            .map(|(pt, _)| *pt)
            .or_else(|| {
                let fixed = Codec::parse(&encoding)
                    .filter(|c| *c != Codec::Opus)?
                    .default_payload_type();
                self.formats.contains(&fixed).then_some(fixed)
            })
    }
}

/// Why an SDP body could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SdpError {
    /// No `m=audio` line.
    NoAudio,
    /// No `c=` line at session or audio level, or one that is not `IN IP4`/`IN IP6` + address.
    NoConnection,
    /// The `m=audio` port is not a number, or is 0 (a rejected stream).
    BadPort(String),
}

impl fmt::Display for SdpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdpError::NoAudio => f.write_str("SDP without m=audio"),
            SdpError::NoConnection => f.write_str("SDP without a usable c= line"),
            SdpError::BadPort(p) => write!(f, "SDP audio port {p:?} is unusable"),
        }
    }
}

impl std::error::Error for SdpError {}

/// Reads the first audio stream of an SDP body.
///
/// # Errors
/// [`SdpError`] when there is no audio stream, no connection address or no usable port.
pub fn parse(body: &str) -> Result<RemoteMedia, SdpError> {
    let mut session_addr = None;
    let mut media_addr = None;
    let mut audio: Option<(String, Vec<u8>)> = None;
    let mut in_audio = false;
    let mut rtpmap = Vec::new();
    for line in body.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            if audio.is_some() {
                break; // only the first audio stream matters
            }
            let mut fields = m.split_whitespace();
            in_audio = fields.next() == Some("audio");
            if in_audio {
                let port = fields.next().unwrap_or_default().to_owned();
                let _proto = fields.next();
                let formats = fields.filter_map(|f| f.parse().ok()).collect();
                audio = Some((port, formats));
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            let addr = connection_address(c);
            if in_audio {
                media_addr = addr;
            } else if audio.is_none() {
                session_addr = addr;
            }
        } else if let Some(map) = line.strip_prefix("a=rtpmap:")
            && in_audio
        {
            let mut parts = map.splitn(2, ' ');
            let pt = parts.next().and_then(|p| p.trim().parse::<u8>().ok());
            let name = parts.next().and_then(|e| e.split('/').next());
            if let (Some(pt), Some(name)) = (pt, name) {
                rtpmap.push((pt, name.trim().to_ascii_lowercase()));
            }
        }
    }
    let (port, formats) = audio.ok_or(SdpError::NoAudio)?;
    let ip = media_addr.or(session_addr).ok_or(SdpError::NoConnection)?;
    let port_num = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or(SdpError::BadPort(port))?;
    Ok(RemoteMedia {
        rtp: SocketAddr::new(ip, port_num),
        formats,
        rtpmap,
    })
}

/// `IN IP4 127.0.0.1` (RFC 4566 §5.7), ignoring a multicast TTL suffix.
fn connection_address(value: &str) -> Option<IpAddr> {
    let mut fields = value.split_whitespace();
    if fields.next() != Some("IN") {
        return None;
    }
    let family = fields.next()?;
    let addr = fields.next()?.split('/').next()?;
    let ip: IpAddr = addr.parse().ok()?;
    match (family, ip) {
        ("IP4", IpAddr::V4(_)) | ("IP6", IpAddr::V6(_)) => Some(ip),
        _ => None,
    }
}

/// One audio stream on `ip:port` with `codec` as `pt` and telephone-event as `dtmf_pt`, 20 ms
/// packets (RFC 4566 §6 `a=ptime`), send and receive.
#[must_use]
pub fn body(ip: IpAddr, port: u16, codec: Codec, pt: u8, dtmf_pt: u8, session: u64) -> String {
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    format!(
        "v=0\r\n\
         o=loadgen {session} {session} IN {family} {ip}\r\n\
         s=loadgen\r\n\
         c=IN {family} {ip}\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP {pt} {dtmf_pt}\r\n\
         a=rtpmap:{pt} {rtpmap}\r\n\
         a=rtpmap:{dtmf_pt} telephone-event/8000\r\n\
         a=fmtp:{dtmf_pt} 0-16\r\n\
         a=ptime:20\r\n\
         a=sendrecv\r\n",
        rtpmap = codec.rtpmap(),
    )
}

/// The caller's offer: its codec with its static (or default) type, telephone-event as 101.
#[must_use]
pub fn offer(ip: IpAddr, port: u16, codec: Codec, session: u64) -> String {
    body(
        ip,
        port,
        codec,
        codec.default_payload_type(),
        DEFAULT_DTMF_PT,
        session,
    )
}

/// The agent's answer to `offer`: its own codec, with the payload types the offer gave that
/// codec and telephone-event when it listed them (RFC 3264 §6.1), our defaults otherwise.
/// Returns the body and the payload type the agent will send.
#[must_use]
pub fn answer(
    offer: &RemoteMedia,
    ip: IpAddr,
    port: u16,
    codec: Codec,
    session: u64,
) -> (String, u8) {
    let pt = offer
        .payload_type_of(codec.name())
        .unwrap_or(codec.default_payload_type());
    let dtmf = offer
        .payload_type_of("telephone-event")
        .unwrap_or(DEFAULT_DTMF_PT);
    (body(ip, port, codec, pt, dtmf, session), pt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn offer_is_what_the_issue_asks_for() {
        let sdp = offer(LOOPBACK, 40_002, Codec::Pcma, 7);
        assert!(sdp.contains("c=IN IP4 127.0.0.1\r\n"));
        assert!(sdp.contains("m=audio 40002 RTP/AVP 8 101\r\n"));
        assert!(sdp.contains("a=rtpmap:8 PCMA/8000\r\n"));
        assert!(sdp.contains("a=rtpmap:101 telephone-event/8000\r\n"));
        assert!(sdp.contains("a=ptime:20\r\n"));
        let back = parse(&sdp).unwrap();
        assert_eq!(back.rtp, "127.0.0.1:40002".parse().unwrap());
        assert_eq!(back.formats, vec![8, 101]);
        assert_eq!(back.payload_type_of("PCMA"), Some(8));
        assert_eq!(back.payload_type_of("telephone-event"), Some(101));
        assert_eq!(back.payload_type_of("opus"), None);
    }

    #[test]
    fn opus_answer_takes_the_offers_payload_types() {
        // An anchoring switch's offer: its own port, its codec list with Opus as 107.
        let switch_offer = "v=0\r\no=sb 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
            t=0 0\r\nm=audio 20000 RTP/AVP 8 0 107 96\r\na=rtpmap:8 PCMA/8000\r\n\
            a=rtpmap:107 opus/48000/2\r\na=rtpmap:96 telephone-event/8000\r\n";
        let remote = parse(switch_offer).unwrap();
        let (sdp, pt) = answer(&remote, LOOPBACK, 41_000, Codec::Opus, 1);
        assert_eq!(pt, 107);
        assert!(sdp.contains("m=audio 41000 RTP/AVP 107 96\r\n"));
        assert!(sdp.contains("a=rtpmap:107 opus/48000/2\r\n"));
        // Today's pass-through offer has no Opus: the agent answers with its default type.
        let caller_offer = parse(&offer(LOOPBACK, 40_000, Codec::Pcma, 1)).unwrap();
        let (sdp, pt) = answer(&caller_offer, LOOPBACK, 41_000, Codec::Opus, 1);
        assert_eq!(pt, 111);
        assert!(sdp.contains("m=audio 41000 RTP/AVP 111 101\r\n"));
    }

    #[test]
    fn media_level_connection_wins_and_lf_only_is_read() {
        let sdp = "v=0\nc=IN IP4 10.0.0.1\nm=video 5000 RTP/AVP 96\nc=IN IP4 10.0.0.2\n\
                   m=audio 6000 RTP/AVP 0\nc=IN IP4 10.0.0.3/127\n";
        let m = parse(sdp).unwrap();
        assert_eq!(m.rtp, "10.0.0.3:6000".parse().unwrap());
        assert_eq!(m.payload_type_of("pcmu"), Some(0));
        let session_only = "v=0\nc=IN IP4 10.0.0.1\nm=audio 6000 RTP/AVP 0\n";
        assert_eq!(
            parse(session_only).unwrap().rtp.ip().to_string(),
            "10.0.0.1"
        );
    }

    #[test]
    fn unusable_sdp_is_an_error_value() {
        assert_eq!(parse("v=0\nc=IN IP4 1.2.3.4\n"), Err(SdpError::NoAudio));
        assert_eq!(
            parse("v=0\nm=audio 4000 RTP/AVP 0\n"),
            Err(SdpError::NoConnection)
        );
        assert_eq!(
            parse("c=IN IP4 1.2.3.4\nm=audio 0 RTP/AVP 0\n"),
            Err(SdpError::BadPort("0".into()))
        );
        assert_eq!(
            parse("c=IN IP6 1.2.3.4\nm=audio 9 RTP/AVP 0\n"),
            Err(SdpError::NoConnection)
        );
    }

    #[test]
    fn codec_names_and_clocks() {
        assert_eq!(Codec::parse("PCMA"), Some(Codec::Pcma));
        assert_eq!(Codec::parse("Opus"), Some(Codec::Opus));
        assert_eq!(Codec::parse("G729"), None);
        assert_eq!(Codec::Pcma.ticks_per_packet(), 160);
        assert_eq!(Codec::Opus.ticks_per_packet(), 960);
    }

    proptest! {
        #[test]
        fn parse_never_panics(text in "\\PC{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn offers_parse_back(port in 1_u16.., codec in prop_oneof![Just(Codec::Pcma), Just(Codec::Pcmu), Just(Codec::Opus)]) {
            let m = parse(&offer(LOOPBACK, port, codec, 3)).unwrap();
            prop_assert_eq!(m.rtp.port(), port);
            prop_assert_eq!(m.payload_type_of(codec.name()), Some(codec.default_payload_type()));
        }
    }
}
