//! The SIP messages in a SIPp message log (`-trace_msg`), and the media address in their SDP.
//!
//! The media tests need facts only the signalling carries: which RTP port the switch gave the
//! caller's leg (the SDP of the 200 OK the caller received), where the switch wants the agent
//! to send (the SDP of the INVITE the agent received), when the BYE came. SIPp writes each
//! message to its log as it goes, in blocks like this (SIPp 3.6, `socket.cpp`; local time):
//!
//! ```text
//! ----------------------------------------------- 2024-05-01 10:00:00.123456
//! UDP message sent (512 bytes):
//!
//! INVITE sip:1002@127.0.0.1:5060 SIP/2.0
//! ...
//! ```
//!
//! ```
//! use switchboard_tests::sip_log::{Direction, parse};
//!
//! let log = "----------------------------------------------- 2024-05-01 10:00:00.500000\n\
//!            UDP message received [99] bytes :\n\n\
//!            SIP/2.0 200 OK\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n\r\n\
//!            v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 20000 RTP/AVP 8 101\r\na=sendrecv\r\n\n";
//! let messages = parse(log);
//! assert_eq!(messages[0].direction, Direction::Received);
//! assert!(messages[0].is_response(200));
//! let media = messages[0].sdp_media().unwrap();
//! assert_eq!(media.addr.to_string(), "127.0.0.1:20000");
//! assert_eq!(media.payload_types, [8, 101]);
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The separator SIPp writes before each message.
const SEPARATOR: &str = "----------------------------------------------- ";

/// Which way a message went, from the SIPp instance's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// SIPp sent it.
    Sent,
    /// SIPp received it.
    Received,
}

/// When SIPp logged a message: the local date and the time of day.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// Seconds since local midnight, with microseconds.
    pub seconds: f64,
}

impl Stamp {
    fn parse(line: &str) -> Option<Stamp> {
        let (date, time) = line.trim().split_once(' ')?;
        let mut parts = time.split(':');
        let h: f64 = parts.next()?.parse().ok()?;
        let m: f64 = parts.next()?.parse().ok()?;
        let s: f64 = parts.next()?.parse().ok()?;
        Some(Stamp {
            date: date.to_owned(),
            seconds: h * 3600.0 + m * 60.0 + s,
        })
    }

    /// How long after `earlier` this is (zero if it is not later); a change of date counts one
    /// midnight, enough for calls that last seconds.
    #[must_use]
    pub fn since(&self, earlier: &Stamp) -> Duration {
        let mut d = self.seconds - earlier.seconds;
        // ISO dates order as strings.
        match self.date.cmp(&earlier.date) {
            std::cmp::Ordering::Greater => d += 86_400.0,
            std::cmp::Ordering::Less => d -= 86_400.0,
            std::cmp::Ordering::Equal => {}
        }
        Duration::try_from_secs_f64(d).unwrap_or(Duration::ZERO)
    }
}

/// One logged message.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedMessage {
    /// Sent or received.
    pub direction: Direction,
    /// When (if the stamp parsed).
    pub stamp: Option<Stamp>,
    /// The message as logged.
    pub text: String,
}

/// The audio stream of an SDP body (RFC 4566 §5.7 `c=`, §5.14 `m=`; RFC 3264 §5.1 direction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdpMedia {
    /// Where the party wants its RTP: the connection address (media-level `c=` wins over the
    /// session-level one) and the `m=audio` port.
    pub addr: SocketAddr,
    /// The payload types offered or accepted, in order.
    pub payload_types: Vec<u8>,
    /// `sendrecv`, `sendonly`, `recvonly` or `inactive` if present (at media or session level).
    pub direction: Option<String>,
}

impl LoggedMessage {
    /// The first line (request line or status line).
    #[must_use]
    pub fn start_line(&self) -> &str {
        self.text.lines().next().unwrap_or("").trim_end()
    }

    /// Whether it is a `method` request.
    #[must_use]
    pub fn is_request(&self, method: &str) -> bool {
        self.start_line()
            .strip_prefix(method)
            .is_some_and(|rest| rest.starts_with(' '))
    }

    /// Whether it is a response with `code`.
    #[must_use]
    pub fn is_response(&self, code: u16) -> bool {
        self.start_line()
            .strip_prefix("SIP/2.0 ")
            .is_some_and(|rest| rest.starts_with(&code.to_string()))
    }

    /// The method in its CSeq header.
    #[must_use]
    pub fn cseq_method(&self) -> Option<&str> {
        self.header("CSeq")?.split_whitespace().nth(1)
    }

    /// The first value of header `name` (case-insensitive; compact forms not expanded).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head().lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn head(&self) -> &str {
        split_body(&self.text).0
    }

    /// The body, after the blank line.
    #[must_use]
    pub fn body(&self) -> &str {
        split_body(&self.text).1
    }

    /// The audio stream of its SDP body, if it has one.
    #[must_use]
    pub fn sdp_media(&self) -> Option<SdpMedia> {
        sdp_audio(self.body())
    }
}

fn split_body(text: &str) -> (&str, &str) {
    text.split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""))
}

/// The first `m=audio` section, while its lines are read.
#[derive(Debug, Default)]
struct AudioSection {
    port: u16,
    payload_types: Vec<u8>,
    connection: Option<IpAddr>,
    direction: Option<String>,
}

/// The audio stream described by an SDP body, if it has a usable `c=` and `m=audio`.
#[must_use]
pub fn sdp_audio(sdp: &str) -> Option<SdpMedia> {
    let mut session_c: Option<IpAddr> = None;
    let mut session_dir: Option<String> = None;
    let mut audio: Option<AudioSection> = None;
    // Whether the lines being read belong to that first audio section.
    let mut in_audio = false;
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            let mut f = m.split_whitespace();
            in_audio = f.next() == Some("audio") && audio.is_none();
            if in_audio {
                let port = f.next()?.split('/').next()?.parse().ok()?;
                let payload_types = f.skip(1).filter_map(|p| p.parse().ok()).collect();
                audio = Some(AudioSection {
                    port,
                    payload_types,
                    ..AudioSection::default()
                });
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            // c=IN IP4 <address>[/ttl]
            let addr = c.split_whitespace().nth(2)?.split('/').next()?.parse().ok();
            match (&mut audio, in_audio) {
                (Some(a), true) => a.connection = addr,
                (None, _) => session_c = addr,
                _ => {}
            }
        } else if let Some(dir) = line.strip_prefix("a=").filter(|a| is_direction(a)) {
            match (&mut audio, in_audio) {
                (Some(a), true) => a.direction = Some(dir.to_owned()),
                (None, _) => session_dir = Some(dir.to_owned()),
                _ => {}
            }
        }
    }
    let audio = audio?;
    Some(SdpMedia {
        addr: SocketAddr::new(audio.connection.or(session_c)?, audio.port),
        payload_types: audio.payload_types,
        direction: audio.direction.or(session_dir),
    })
}

fn is_direction(attribute: &str) -> bool {
    matches!(attribute, "sendrecv" | "sendonly" | "recvonly" | "inactive")
}

/// The messages of a SIPp message log, in order. Blocks that are not a sent or received
/// message (SIPp's notes about unexpected messages, send errors) are skipped.
#[must_use]
pub fn parse(log: &str) -> Vec<LoggedMessage> {
    let mut out = Vec::new();
    for block in log.split(SEPARATOR).skip(1) {
        let Some((stamp, rest)) = block.split_once('\n') else {
            continue;
        };
        let Some((what, message)) = rest.split_once('\n') else {
            continue;
        };
        let Some(direction) = direction_of(what) else {
            continue;
        };
        let text = message.trim_start_matches(['\r', '\n']).trim_end();
        out.push(LoggedMessage {
            direction,
            stamp: Stamp::parse(stamp),
            text: text.to_owned(),
        });
    }
    out
}

/// The `method` requests of `log` that went `direction` (SIPp's point of view), in order.
#[must_use]
pub fn requests(log: &str, direction: Direction, method: &str) -> Vec<LoggedMessage> {
    parse(log)
        .into_iter()
        .filter(|m| m.direction == direction && m.is_request(method))
        .collect()
}

/// The Call-ID of the first INVITE `log` shows SIPp sending: the caller's call, as the switch
/// names it in its logs and its voicemail files.
#[must_use]
pub fn call_id(log: &str) -> Option<String> {
    requests(log, Direction::Sent, "INVITE")
        .first()
        .and_then(|m| m.header("Call-ID"))
        .map(str::to_owned)
}

/// `UDP message sent (N bytes):` / `TCP control message received [N] bytes :`; not SIPp's
/// "Unexpected … message received" notes, which repeat a message already logged.
fn direction_of(what: &str) -> Option<Direction> {
    let words: Vec<&str> = what.split_whitespace().collect();
    let i = words.iter().position(|w| *w == "message")?;
    let transport_then_message = i == 1 || (i == 2 && words[1] == "control");
    if !transport_then_message || words[0] == "Unexpected" {
        return None;
    }
    match *words.get(i + 1)? {
        "sent" => Some(Direction::Sent),
        "received" => Some(Direction::Received),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LOG: &str = "----------------------------------------------- 2024-05-01 23:59:59.900000\n\
        UDP message sent (300 bytes):\n\n\
        INVITE sip:1002@127.0.0.1:5070 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:6001;branch=z9hG4bK-1\r\n\
        CSeq: 1 INVITE\r\n\
        Content-Type: application/sdp\r\n\r\n\
        v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 6000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=sendonly\r\n\n\
        ----------------------------------------------- 2024-05-02 00:00:00.150000\n\
        UDP message received [120] bytes :\n\n\
        SIP/2.0 100 Trying\r\ncseq: 1 INVITE\r\nContent-Length: 0\r\n\r\n\n\
        ----------------------------------------------- 2024-05-02 00:00:00.200000\n\
        Unexpected UDP message received:\n\nBYE sip:x SIP/2.0\r\n\n";

    #[test]
    fn blocks_become_messages_with_direction_time_and_headers() {
        let m = parse(LOG);
        assert_eq!(
            m.len(),
            2,
            "the unexpected-message note is not a message: {m:?}"
        );
        assert_eq!(m[0].direction, Direction::Sent);
        assert!(m[0].is_request("INVITE"));
        assert!(!m[0].is_request("INV"));
        assert_eq!(m[0].cseq_method(), Some("INVITE"));
        assert_eq!(m[1].direction, Direction::Received);
        assert!(m[1].is_response(100));
        assert_eq!(m[1].header("CSeq"), Some("1 INVITE"));
        assert_eq!(m[1].sdp_media(), None);
        let (a, b) = (m[0].stamp.as_ref().unwrap(), m[1].stamp.as_ref().unwrap());
        assert_eq!(b.since(a).as_millis(), 250, "across midnight");
        assert_eq!(a.since(b), Duration::ZERO);
    }

    #[test]
    fn requests_are_picked_by_direction_and_method() {
        let log = LOG.replace(
            "CSeq: 1 INVITE\r\n",
            "Call-ID: 7-1@127.0.0.1\r\nCSeq: 1 INVITE\r\n",
        );
        assert_eq!(requests(&log, Direction::Sent, "INVITE").len(), 1);
        assert!(requests(&log, Direction::Received, "INVITE").is_empty());
        assert!(
            requests(&log, Direction::Received, "BYE").is_empty(),
            "a note, not a message"
        );
        assert_eq!(call_id(&log).as_deref(), Some("7-1@127.0.0.1"));
        assert_eq!(call_id(LOG), None);
    }

    #[test]
    fn sdp_gives_address_payload_types_and_direction() {
        let m = parse(LOG);
        let media = m[0].sdp_media().unwrap();
        assert_eq!(media.addr, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(media.payload_types, [8, 0, 101]);
        assert_eq!(media.direction.as_deref(), Some("sendonly"));
    }

    #[test]
    fn media_level_connection_wins_and_other_streams_are_ignored() {
        let sdp = "v=0\nc=IN IP4 192.0.2.1\na=recvonly\nm=video 5000 RTP/AVP 96\nc=IN IP4 192.0.2.9\n\
                   m=audio 7078 RTP/AVP 0\nc=IN IP4 192.0.2.2/127\nm=audio 9 RTP/AVP 8\n";
        let media = sdp_audio(sdp).unwrap();
        assert_eq!(media.addr, "192.0.2.2:7078".parse().unwrap());
        assert_eq!(media.payload_types, [0]);
        assert_eq!(media.direction.as_deref(), Some("recvonly"));
        assert_eq!(
            sdp_audio("v=0\nm=audio 7078 RTP/AVP 0\n"),
            None,
            "no c= at all"
        );
        assert_eq!(sdp_audio("v=0\nc=IN IP4 x\nm=audio 1 RTP/AVP 0\n"), None);
    }

    proptest! {
        #[test]
        fn parsing_never_panics(log in "(-{47} |UDP message (sent|received) |\\r?\\n|m=audio |c=IN IP4 |[0-9.: a-z=/]){0,60}") {
            for m in parse(&log) {
                let _ = (m.start_line(), m.sdp_media(), m.cseq_method(), m.is_response(200));
            }
            let _ = sdp_audio(&log);
        }
    }
}
