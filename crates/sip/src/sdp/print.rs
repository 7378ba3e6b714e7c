//! Printing our SDP (RFC 4566 §5): the small, fixed shape of every answer and offer we send,
//! so its exact text can be asserted in tests.

use std::fmt::Write as _;
use std::net::IpAddr;

use bytes::Bytes;

use super::negotiate::SdpOrigin;
use super::{Format, MediaDescription, MediaDirection, MediaKind};

/// One format of an active stream, with the fmtp we answer for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AnswerLine<'a> {
    pub(crate) format: &'a Format,
    pub(crate) fmtp: Option<&'a str>,
}

/// One `m=` section of what we send.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MediaBlock<'a> {
    /// A stream we take part in.
    Active {
        kind: &'a str,
        port: u16,
        protocol: &'a str,
        lines: &'a [AnswerLine<'a>],
        direction: MediaDirection,
        ptime: Option<u32>,
        rtcp_mux: bool,
    },
    /// An offered stream we refuse (RFC 3264 §6: port 0, the offered kind, protocol and at
    /// least one of the offered formats).
    Refused { media: &'a MediaDescription },
}

/// `IN IP4 a.b.c.d` or `IN IP6 x::y`.
fn tagged(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("IN IP4 {a}"),
        IpAddr::V6(a) => format!("IN IP6 {a}"),
    }
}

fn kind_token(kind: &MediaKind) -> &str {
    match kind {
        MediaKind::Audio => "audio",
        MediaKind::Video => "video",
        MediaKind::Other(s) => s,
    }
}

/// The `a=rtpmap` value: `<pt> <encoding>/<rate>[/<channels>]`.
fn rtpmap(f: &Format) -> String {
    if f.channels > 1 {
        format!("{} {}/{}/{}", f.pt, f.encoding, f.clock_rate, f.channels)
    } else {
        format!("{} {}/{}", f.pt, f.encoding, f.clock_rate)
    }
}

fn block(out: &mut String, b: &MediaBlock<'_>) {
    // `write!` into a String cannot fail.
    match b {
        MediaBlock::Active {
            kind,
            port,
            protocol,
            lines,
            direction,
            ptime,
            rtcp_mux,
        } => {
            let _ = write!(out, "m={kind} {port} {protocol}");
            for l in *lines {
                let _ = write!(out, " {}", l.format.pt);
            }
            out.push_str("\r\n");
            for l in *lines {
                let _ = write!(out, "a=rtpmap:{}\r\n", rtpmap(l.format));
                if let Some(fmtp) = l.fmtp {
                    let _ = write!(out, "a=fmtp:{} {fmtp}\r\n", l.format.pt);
                }
            }
            if let Some(p) = ptime {
                let _ = write!(out, "a=ptime:{p}\r\n");
            }
            if *rtcp_mux {
                out.push_str("a=rtcp-mux\r\n");
            }
            let _ = write!(out, "a={}\r\n", direction.as_str());
        }
        MediaBlock::Refused { media } => {
            let first = media.format_tokens.first().map_or("0", String::as_str);
            let _ = write!(
                out,
                "m={} 0 {} {first}\r\n",
                kind_token(&media.kind),
                media.protocol.as_str()
            );
        }
    }
}

/// A whole description from `addr`, with the `o=` version `origin` gives it (RFC 3264 §8).
pub(crate) fn session(addr: IpAddr, origin: &mut SdpOrigin, blocks: &[MediaBlock<'_>]) -> Bytes {
    let mut rest = String::with_capacity(256);
    let _ = write!(rest, "s=-\r\nc={}\r\nt=0 0\r\n", tagged(addr));
    for b in blocks {
        block(&mut rest, b);
    }
    let version = origin.stamp(&rest);
    let mut out = String::with_capacity(rest.len() + 64);
    let _ = write!(
        out,
        "v=0\r\no=- {} {version} {}\r\n",
        origin.session_id,
        tagged(addr)
    );
    out.push_str(&rest);
    Bytes::from(out)
}
