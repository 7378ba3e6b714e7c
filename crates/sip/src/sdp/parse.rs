//! Body → [`SessionDescription`]: our own line checks and `m=` tokenizer, `ezk-sdp-types` for
//! the origin, connection and attribute lines (see the module docs of [`super`] for why the work
//! is split this way).

use std::net::IpAddr;

use bytesstr::BytesStr;
use ezk_sdp_types::{ParseSessionDescriptionError, TaggedAddress, UnknownAttribute};

use super::{
    Format, MediaDescription, MediaDirection, MediaKind, Origin, Protocol, RtcpAttr, SdpError,
    SdpLimits, SessionDescription, static_payload_type,
};

/// Attributes we act on; every other `a=` line is dropped before `ezk-sdp-types` sees it.
const KEPT_ATTRIBUTES: &[&str] = &[
    "rtpmap", "fmtp", "rtcp", "rtcp-mux", "sendrecv", "sendonly", "recvonly", "inactive", "ptime",
    "maxptime",
];

/// An `m=` line as we tokenised it.
#[derive(Debug)]
struct MediaLine {
    kind: MediaKind,
    port: u16,
    protocol: Protocol,
    tokens: Vec<String>,
    pts: Vec<u8>,
}

/// Parses an SDP body (RFC 4566) into the model Switchboard negotiates with, under the default
/// [`SdpLimits`].
///
/// # Errors
/// See [`parse_with`].
pub fn parse(body: &[u8]) -> Result<SessionDescription, SdpError> {
    parse_with(body, &SdpLimits::default())
}

/// Parses an SDP body (RFC 4566) into the model Switchboard negotiates with.
///
/// # Errors
/// An [`SdpError`] with status 400 for anything that is not valid SDP (see the variants), or
/// 488 for a body we will not use: a connection address that is a host name
/// ([`SdpError::HostnameAddress`]) or not unicast ([`SdpError::NotUnicast`]), more `m=` lines
/// than `limits` allow ([`SdpError::TooManyMedia`], found before the rest is parsed).
pub fn parse_with(body: &[u8], limits: &SdpLimits) -> Result<SessionDescription, SdpError> {
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotUtf8)?;
    let mut filtered = String::with_capacity(text.len());
    let mut media_lines = Vec::new();
    let mut origin_line = 0;
    let mut seen_version = false;
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        // RFC 4566 §5: `<type>=<value>`, type one letter; v= comes first.
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            return Err(SdpError::Syntax {
                line: line_no,
                reason: "not a <type>=<value> line",
            });
        }
        if !seen_version {
            if line.trim_end() != "v=0" {
                return Err(SdpError::MissingVersion);
            }
            seen_version = true;
        }
        match bytes[0] {
            b'm' => {
                if media_lines.len() >= limits.max_media {
                    return Err(SdpError::TooManyMedia {
                        max: limits.max_media,
                    });
                }
                media_lines.push(tokenize_media(&line[2..], line_no)?);
                // ezk only needs to know a media section starts here.
                filtered.push_str("m=audio 0 RTP/AVP\r\n");
            }
            b'a' => {
                let name = line[2..].split(':').next().unwrap_or_default().trim();
                if KEPT_ATTRIBUTES.contains(&name) {
                    filtered.push_str(line);
                    filtered.push_str("\r\n");
                }
            }
            b'o' | b'c' | b's' | b't' | b'v' => {
                if bytes[0] == b'o' {
                    origin_line = line_no;
                }
                if bytes[0] == b'c' {
                    // Multicast `c=` lines carry a TTL (`224.2.1.1/127`, RFC 4566 §5.7) that
                    // the parser underneath may not read: refuse them as such, not as syntax.
                    check_connection_line(&line[2..])?;
                }
                filtered.push_str(line);
                filtered.push_str("\r\n");
            }
            _ => {}
        }
    }
    if !seen_version {
        return Err(SdpError::MissingVersion);
    }
    let parsed = ezk_sdp_types::SessionDescription::parse(&BytesStr::from(filtered))
        .map_err(map_ezk_error)?;
    let session_connection = parsed
        .connection
        .as_ref()
        .map(|c| ip(&c.address).and_then(unicast))
        .transpose()?;
    let origin = Origin {
        username: parsed.origin.username.to_string(),
        session_id: parsed.origin.session_id.to_string(),
        version: parsed
            .origin
            .session_version
            .parse()
            .map_err(|_| SdpError::Syntax {
                line: origin_line,
                reason: "o= version is not a number",
            })?,
        addr: address_text(&parsed.origin.address),
    };
    let mut media = Vec::with_capacity(media_lines.len());
    for (index, (line, md)) in media_lines
        .into_iter()
        .zip(&parsed.media_descriptions)
        .enumerate()
    {
        media.push(build_media(index, line, md, session_connection)?);
    }
    Ok(SessionDescription {
        origin,
        connection: session_connection,
        media,
    })
}

/// Tokenises `<media> <port>[/<count>] <proto> <fmt> …` (RFC 4566 §5.14).
fn tokenize_media(value: &str, line: usize) -> Result<MediaLine, SdpError> {
    let mut tokens = value.split_ascii_whitespace();
    let (Some(kind), Some(port), Some(proto)) = (tokens.next(), tokens.next(), tokens.next())
    else {
        return Err(SdpError::Syntax {
            line,
            reason: "m= needs media, port and protocol",
        });
    };
    let port = port.split('/').next().unwrap_or_default();
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SdpError::Syntax {
            line,
            reason: "m= port is not a number",
        });
    }
    let port: u16 = port
        .parse()
        .map_err(|_| SdpError::PortOutOfRange { line })?;
    let protocol = Protocol::from_token(proto);
    let tokens: Vec<String> = tokens.map(str::to_owned).collect();
    let pts = if protocol.is_rtp() {
        tokens
            .iter()
            .map(|t| {
                t.parse::<u8>()
                    .ok()
                    .filter(|pt| *pt <= 127)
                    .ok_or(SdpError::BadPayloadType { line })
            })
            .collect::<Result<Vec<u8>, SdpError>>()?
    } else {
        Vec::new()
    };
    let kind = match kind {
        "audio" => MediaKind::Audio,
        "video" => MediaKind::Video,
        other => MediaKind::Other(other.to_owned()),
    };
    Ok(MediaLine {
        kind,
        port,
        protocol,
        tokens,
        pts,
    })
}

fn map_ezk_error(e: ParseSessionDescriptionError) -> SdpError {
    match e {
        ParseSessionDescriptionError::MissingOrigin => SdpError::MissingLine('o'),
        ParseSessionDescriptionError::MissingName => SdpError::MissingLine('s'),
        ParseSessionDescriptionError::MissingTime => SdpError::MissingLine('t'),
        other => {
            // ezk's message quotes the rest of the body; the first line of it is enough.
            let msg = other.to_string();
            SdpError::Malformed(
                msg.lines()
                    .next()
                    .unwrap_or_default()
                    .chars()
                    .take(120)
                    .collect(),
            )
        }
    }
}

/// `IN IP4 <address>[/ttl[/count]]`: an address that is an IP must be one we may send to. Host
/// names and syntax are left to the parser underneath.
fn check_connection_line(value: &str) -> Result<(), SdpError> {
    let address = value.split_ascii_whitespace().nth(2).unwrap_or_default();
    let address = address.split('/').next().unwrap_or_default();
    match address.parse::<IpAddr>() {
        Ok(ip) => unicast(ip).map(|_| ()),
        Err(_) => Ok(()),
    }
}

/// An address we may send media to: unicast, or unspecified (the hold of RFC 3264 §8.4).
/// Multicast (224.0.0.0/4, ff00::/8, also IPv4-mapped) and the IPv4 broadcast address are not.
fn unicast(ip: IpAddr) -> Result<IpAddr, SdpError> {
    let plain = ip.to_canonical();
    let broadcast = matches!(plain, IpAddr::V4(v4) if v4.is_broadcast());
    if plain.is_multicast() || broadcast {
        return Err(SdpError::NotUnicast(ip));
    }
    Ok(ip)
}

/// An `a=rtcp` address: unspecified means nothing (RTCP follows the RTP host); otherwise it
/// must be unicast like a connection address.
fn rtcp_address(addr: &TaggedAddress) -> Result<Option<IpAddr>, SdpError> {
    match ip(addr) {
        Ok(ip) if ip.is_unspecified() => Ok(None),
        Ok(ip) => unicast(ip).map(Some),
        // A host name here never failed a call before; it still does not.
        Err(_) => Ok(None),
    }
}

/// The IP of a connection address; host names cannot be used by a sans-IO core.
fn ip(addr: &TaggedAddress) -> Result<IpAddr, SdpError> {
    match addr {
        TaggedAddress::IP4(a) => Ok(IpAddr::V4(*a)),
        TaggedAddress::IP6(a) => Ok(IpAddr::V6(*a)),
        TaggedAddress::IP4FQDN(_) | TaggedAddress::IP6FQDN(_) => Err(SdpError::HostnameAddress),
    }
}

fn address_text(addr: &TaggedAddress) -> String {
    match addr {
        TaggedAddress::IP4(a) => a.to_string(),
        TaggedAddress::IP6(a) => a.to_string(),
        TaggedAddress::IP4FQDN(h) | TaggedAddress::IP6FQDN(h) => h.to_string(),
    }
}

/// An integer attribute value (`a=ptime:20`); a fractional `20.5` keeps its integer part.
fn attr_u32(attrs: &[UnknownAttribute], name: &str) -> Option<u32> {
    let attr = attrs.iter().find(|a| a.name.as_str() == name)?;
    let value = attr.value.as_ref()?.as_str().trim();
    value.split('.').next()?.parse().ok()
}

fn build_media(
    index: usize,
    line: MediaLine,
    md: &ezk_sdp_types::MediaDescription,
    session_connection: Option<IpAddr>,
) -> Result<MediaDescription, SdpError> {
    let connection = match &md.connection {
        Some(c) => Some(unicast(ip(&c.address)?)?),
        None => session_connection,
    };
    if connection.is_none() && line.port != 0 {
        return Err(SdpError::MissingConnection { index });
    }
    let mut formats = Vec::with_capacity(line.pts.len());
    if line.protocol.is_rtp() {
        if let Some(map) = md.rtpmap.iter().find(|m| !line.pts.contains(&m.payload)) {
            return Err(SdpError::RtpmapForUnknownPt { pt: map.payload });
        }
        for &pt in &line.pts {
            formats.push(resolve_format(pt, md)?);
        }
    }
    let held = connection.is_some_and(|c| c.is_unspecified());
    let direction = direction(md.direction);
    Ok(MediaDescription {
        kind: line.kind,
        port: line.port,
        protocol: line.protocol,
        connection,
        format_tokens: line.tokens,
        formats,
        // RFC 3264 §8.4: c=0.0.0.0 is the old way of saying "do not send to me".
        direction: if held {
            direction.without_recv()
        } else {
            direction
        },
        ptime: attr_u32(&md.attributes, "ptime"),
        maxptime: attr_u32(&md.attributes, "maxptime"),
        rtcp: md
            .rtcp
            .as_ref()
            .map(|r| -> Result<RtcpAttr, SdpError> {
                Ok(RtcpAttr {
                    port: r.port,
                    addr: r.address.as_ref().map(rtcp_address).transpose()?.flatten(),
                })
            })
            .transpose()?,
        rtcp_mux: md.rtcp_mux,
    })
}

/// The format for `pt`: its rtpmap, else the static table, else an unmapped dynamic type.
fn resolve_format(pt: u8, md: &ezk_sdp_types::MediaDescription) -> Result<Format, SdpError> {
    let fmtp = md
        .fmtp
        .iter()
        .find(|f| f.format == pt)
        .map(|f| f.params.trim().to_owned());
    if let Some(map) = md.rtpmap.iter().find(|m| m.payload == pt) {
        let channels = match &map.params {
            None => 1,
            Some(p) => {
                p.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|c| *c > 0)
                    .ok_or(SdpError::Malformed(format!(
                        "a=rtpmap:{pt} has an invalid channel count"
                    )))?
            }
        };
        return Ok(Format {
            pt,
            encoding: map.encoding.trim().to_owned(),
            clock_rate: map.clock_rate,
            channels,
            fmtp,
        });
    }
    let (encoding, clock_rate, channels) = static_payload_type(pt).unwrap_or(("", 0, 1));
    Ok(Format {
        pt,
        encoding: encoding.to_owned(),
        clock_rate,
        channels,
        fmtp,
    })
}

fn direction(d: ezk_sdp_types::Direction) -> MediaDirection {
    match d {
        ezk_sdp_types::Direction::SendRecv => MediaDirection::SendRecv,
        ezk_sdp_types::Direction::SendOnly => MediaDirection::SendOnly,
        ezk_sdp_types::Direction::RecvOnly => MediaDirection::RecvOnly,
        ezk_sdp_types::Direction::Inactive => MediaDirection::Inactive,
    }
}
