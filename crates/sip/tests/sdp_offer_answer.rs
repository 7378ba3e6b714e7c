//! SDP offer/answer against what real peers send (SIPp, baresip, Linphone, Zoiper, Asterisk,
//! a WebRTC browser), holds, re-offers, refusals and malformed bodies, plus property tests that
//! nothing panics on random or mutated input.

use std::net::{IpAddr, SocketAddr};

use proptest::prelude::*;
use switchboard_sip::sdp::{
    self, CodecOrder, CodecPref, Format, LocalMedia, MediaDirection, MediaKind, Protocol, SdpError,
    SdpOrigin,
};

/// SIPp's built-in uac scenario.
const SIPP: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// baresip 3.x with opus, G.722, G.711 and telephone-event.
const BARESIP: &str = "v=0\r\n\
o=- 1207447412 1442346402 IN IP4 192.168.1.20\r\n\
s=-\r\n\
c=IN IP4 192.168.1.20\r\n\
t=0 0\r\n\
m=audio 10310 RTP/AVP 96 9 0 8 101\r\n\
b=AS:128\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=rtcp-rsize\r\n\
a=ssrc:1936120432 cname:a0b1c2d3-e4f5\r\n";

/// Linphone 5: speex, G.729 without rtpmap, three telephone-events, a=rtcp, rtcp-fb wildcards,
/// session-level attributes ezk would choke on.
const LINPHONE: &str = "v=0\r\n\
o=alice 2542 3154 IN IP4 192.168.1.30\r\n\
s=Talk\r\n\
c=IN IP4 192.168.1.30\r\n\
t=0 0\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
a=record:off\r\n\
m=audio 7078 RTP/AVP 96 97 98 0 8 18 101 99 100\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:97 speex/16000\r\n\
a=fmtp:97 vbr=on\r\n\
a=rtpmap:98 speex/8000\r\n\
a=fmtp:98 vbr=on\r\n\
a=fmtp:18 annexb=yes\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:99 telephone-event/16000\r\n\
a=rtpmap:100 telephone-event/8000\r\n\
a=rtcp:7079\r\n\
a=rtcp-fb:* trr-int 1000\r\n\
a=rtcp-fb:* ccm tmmbr\r\n";

/// Zoiper 5 with rtcp-mux, LF line endings and a trailing blank line.
const ZOIPER: &str = "v=0\n\
o=Z 0 126370463 IN IP4 10.0.0.5\n\
s=Z\n\
c=IN IP4 10.0.0.5\n\
t=0 0\n\
m=audio 8000 RTP/AVP 106 9 98 101 0 8 3\n\
a=rtpmap:106 opus/48000/2\n\
a=fmtp:106 sprop-maxcapturerate=16000; minptime=20; useinbandfec=1\n\
a=rtpmap:98 telephone-event/48000\n\
a=fmtp:98 0-16\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-16\n\
a=sendrecv\n\
a=rtcp-mux\n\
\n";

/// Asterisk (chan_pjsip) towards a trunk.
const ASTERISK: &str = "v=0\r\n\
o=- 1234567 1234569 IN IP4 203.0.113.5\r\n\
s=Asterisk\r\n\
c=IN IP4 203.0.113.5\r\n\
t=0 0\r\n\
m=audio 18234 RTP/AVP 8 0 3 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

/// A browser: DTLS-SRTP only, ICE, crypto we cannot do.
const WEBRTC: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\n\
a=fingerprint:sha-256 00:11:22\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n";

fn local() -> LocalMedia {
    LocalMedia {
        addr: IpAddr::from([198, 51, 100, 1]),
        port: 20_000,
    }
}

fn opus_pref() -> CodecPref {
    CodecPref {
        fmtp: Some("useinbandfec=1".into()),
        ..CodecPref::opus()
    }
}

fn ours() -> Vec<CodecPref> {
    vec![
        opus_pref(),
        CodecPref::g722(),
        CodecPref::pcma(),
        CodecPref::pcmu(),
    ]
}

fn text(b: &bytes::Bytes) -> &str {
    std::str::from_utf8(b).unwrap()
}

fn format(pt: u8, encoding: &str, clock_rate: u32, channels: u8, fmtp: Option<&str>) -> Format {
    Format {
        pt,
        encoding: encoding.into(),
        clock_rate,
        channels,
        fmtp: fmtp.map(Into::into),
    }
}

#[test]
fn sipp_offer_parses_and_is_answered_in_pcmu() {
    let offer = sdp::parse(SIPP.as_bytes()).unwrap();
    assert_eq!(offer.origin.username, "user1");
    assert_eq!(offer.origin.session_id, "53655765");
    assert_eq!(offer.origin.version, 2_353_687_637);
    assert_eq!(offer.origin.addr, "127.0.0.1");
    assert_eq!(offer.connection, Some(IpAddr::from([127, 0, 0, 1])));
    let m = &offer.media[0];
    assert_eq!(
        (m.kind.clone(), m.port, m.protocol.clone()),
        (MediaKind::Audio, 6000, Protocol::RtpAvp)
    );
    assert_eq!(m.formats, [format(0, "PCMU", 8000, 1, None)]);
    assert_eq!(m.direction, MediaDirection::SendRecv);
    let mut origin = SdpOrigin::new(7, 1);
    let (body, neg) =
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert_eq!(
        text(&body),
        "v=0\r\no=- 7 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
         m=audio 20000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    );
    assert_eq!(neg.codec, format(0, "PCMU", 8000, 1, None));
    assert_eq!(neg.telephone_event, None);
    assert_eq!(
        neg.remote_rtp,
        "127.0.0.1:6000".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(neg.remote_rtcp, Some("127.0.0.1:6001".parse().unwrap()));
    assert!(!neg.rtcp_mux);
    assert_eq!((neg.direction, neg.ptime), (MediaDirection::SendRecv, None));
}

#[test]
fn baresip_offer_is_answered_in_opus_keeping_its_payload_types() {
    let offer = sdp::parse(BARESIP.as_bytes()).unwrap();
    let m = &offer.media[0];
    assert_eq!(
        m.formats[0],
        format(96, "opus", 48_000, 2, Some("stereo=1;sprop-stereo=1"))
    );
    assert_eq!(
        m.formats[4],
        format(101, "telephone-event", 8000, 1, Some("0-15"))
    );
    let mut origin = SdpOrigin::new(7, 1);
    let (body, neg) =
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert_eq!(
        text(&body),
        "v=0\r\no=- 7 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
         m=audio 20000 RTP/AVP 96 9 0 8 101\r\n\
         a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n\
         a=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
    );
    assert_eq!(neg.codec.pt, 96);
    assert!(neg.codec.is("OPUS", 48_000, 2), "case-insensitive");
    assert_eq!(neg.telephone_event, Some(101));
    // Our order instead: G.711 A-law first if we ask for it first.
    let mut origin = SdpOrigin::new(7, 1);
    let prefs = [CodecPref::pcma(), CodecPref::pcmu()];
    let (body, neg) = sdp::answer(&offer, &local(), &prefs, CodecOrder::Ours, &mut origin).unwrap();
    assert!(text(&body).contains("m=audio 20000 RTP/AVP 8 0 101\r\n"));
    assert_eq!(neg.codec.pt, 8);
}

#[test]
fn linphone_offer_resolves_static_types_rtcp_port_and_matching_event_rate() {
    let offer = sdp::parse(LINPHONE.as_bytes()).unwrap();
    let m = &offer.media[0];
    assert_eq!(m.formats.len(), 9);
    // 18 has no rtpmap: RFC 3551 says G729/8000; its fmtp still attaches.
    assert_eq!(
        m.formats[5],
        format(18, "G729", 8000, 1, Some("annexb=yes"))
    );
    assert_eq!(m.formats[3], format(0, "PCMU", 8000, 1, None));
    assert_eq!(m.rtcp.map(|r| r.port), Some(7079));
    let mut origin = SdpOrigin::new(1, 1);
    let prefs = [CodecPref::pcma(), CodecPref::pcmu()];
    let (body, neg) = sdp::answer(&offer, &local(), &prefs, CodecOrder::Ours, &mut origin).unwrap();
    // PCMA at 8 kHz goes with the 8 kHz telephone-event (100), not the first listed (101).
    assert_eq!(neg.telephone_event, Some(100));
    assert!(text(&body).contains("m=audio 20000 RTP/AVP 8 0 100\r\n"));
    assert!(text(&body).contains("a=rtpmap:100 telephone-event/8000\r\n"));
    assert_eq!(neg.remote_rtcp, Some("192.168.1.30:7079".parse().unwrap()));
    // Opus first when offered first and we do it; its events are the 48 kHz ones.
    let (_, neg) =
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert_eq!((neg.codec.pt, neg.telephone_event), (96, Some(101)));
}

#[test]
fn zoiper_offer_with_rtcp_mux_and_lf_line_endings() {
    let offer = sdp::parse(ZOIPER.as_bytes()).unwrap();
    let m = &offer.media[0];
    assert!(m.rtcp_mux);
    assert_eq!(m.formats[6], format(3, "GSM", 8000, 1, None));
    let mut origin = SdpOrigin::new(1, 1);
    let (body, neg) = sdp::answer(
        &offer,
        &local(),
        &[CodecPref::pcmu()],
        CodecOrder::Offerer,
        &mut origin,
    )
    .unwrap();
    assert!(text(&body).contains("m=audio 20000 RTP/AVP 0 101\r\n"));
    assert!(text(&body).contains("a=rtcp-mux\r\n"));
    assert!(neg.rtcp_mux);
    assert_eq!(neg.remote_rtcp, Some(neg.remote_rtp));
    assert_eq!(neg.telephone_event, Some(101));
}

#[test]
fn asterisk_offer_has_its_ptime_echoed() {
    let offer = sdp::parse(ASTERISK.as_bytes()).unwrap();
    let m = &offer.media[0];
    assert_eq!((m.ptime, m.maxptime), (Some(20), Some(150)));
    let mut origin = SdpOrigin::new(1, 1);
    let (body, neg) =
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert!(text(&body).ends_with(
        "m=audio 20000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    ));
    assert_eq!((neg.codec.pt, neg.ptime), (8, Some(20)));
}

#[test]
fn webrtc_offer_is_refused_with_488() {
    let offer = sdp::parse(WEBRTC.as_bytes()).unwrap();
    assert!(matches!(offer.media[0].protocol, Protocol::DtlsSrtp(_)));
    let mut origin = SdpOrigin::new(1, 1);
    let err = sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap_err();
    assert_eq!(
        (err.clone(), err.status()),
        (SdpError::NoAcceptableMedia, 488)
    );
}

fn with_media(media: &str) -> String {
    format!("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n{media}")
}

#[test]
fn holds_are_answered_per_rfc_3264() {
    let cases = [
        ("a=sendonly\r\n", "192.0.2.1", MediaDirection::RecvOnly),
        ("a=recvonly\r\n", "192.0.2.1", MediaDirection::SendOnly),
        ("a=inactive\r\n", "192.0.2.1", MediaDirection::Inactive),
        ("", "0.0.0.0", MediaDirection::RecvOnly),
        ("a=sendonly\r\n", "0.0.0.0", MediaDirection::RecvOnly),
        ("a=recvonly\r\n", "0.0.0.0", MediaDirection::Inactive),
    ];
    for (attr, addr, answered) in cases {
        let body = format!(
            "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n{attr}"
        );
        let offer = sdp::parse(body.as_bytes()).unwrap();
        let mut origin = SdpOrigin::new(1, 1);
        let (bytes, neg) =
            sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
        assert_eq!(neg.direction, answered, "{attr} {addr}");
        assert!(text(&bytes).ends_with(&format!("a={}\r\n", answered.as_str())));
        assert_eq!(neg.remote_rtp.ip().is_unspecified(), addr == "0.0.0.0");
    }
    // Session-level direction applies to the media; media-level wins over it.
    let body = "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\na=sendonly\r\n\
                m=audio 4000 RTP/AVP 8\r\nm=audio 4002 RTP/AVP 8\r\na=inactive\r\n";
    let offer = sdp::parse(body.as_bytes()).unwrap();
    assert_eq!(offer.media[0].direction, MediaDirection::SendOnly);
    assert_eq!(offer.media[1].direction, MediaDirection::Inactive);
}

#[test]
fn only_the_first_servable_audio_line_is_answered() {
    let body = with_media(
        "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
         m=audio 4000 RTP/SAVP 8\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
         m=audio 4002 RTP/AVP 8 101\r\nc=IN IP4 192.0.2.9\r\na=rtpmap:101 telephone-event/8000\r\n\
         m=audio 4004 RTP/AVP 0\r\n\
         m=image 4006 udptl t38\r\na=T38FaxVersion:0\r\n",
    );
    let offer = sdp::parse(body.as_bytes()).unwrap();
    assert_eq!(offer.media.len(), 5);
    assert_eq!(offer.media[4].kind, MediaKind::Other("image".into()));
    assert_eq!(offer.media[4].protocol, Protocol::Other("udptl".into()));
    assert_eq!(offer.media[4].format_tokens, ["t38"]);
    assert_eq!(
        offer.media[2].connection,
        Some(IpAddr::from([192, 0, 2, 9])),
        "media-level c= wins"
    );
    let mut origin = SdpOrigin::new(1, 1);
    let (bytes, neg) =
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert_eq!(
        text(&bytes),
        "v=0\r\no=- 1 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
         m=video 0 RTP/AVP 96\r\n\
         m=audio 0 RTP/SAVP 8\r\n\
         m=audio 20000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n\
         m=audio 0 RTP/AVP 0\r\n\
         m=image 0 udptl t38\r\n"
    );
    assert_eq!(neg.remote_rtp, "192.0.2.9:4002".parse().unwrap());
    // The answer is valid SDP with one m= line per offered line.
    assert_eq!(sdp::parse(&bytes).unwrap().media.len(), 5);
}

#[test]
fn a_first_audio_line_without_common_codec_lets_the_next_one_be_answered() {
    let body = with_media("m=audio 4000 RTP/AVP 18\r\nm=audio 4002 RTP/AVP 0\r\n");
    let offer = sdp::parse(body.as_bytes()).unwrap();
    let mut origin = SdpOrigin::new(1, 1);
    let (bytes, neg) =
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert!(text(&bytes).contains("m=audio 0 RTP/AVP 18\r\nm=audio 20000 RTP/AVP 0\r\n"));
    assert_eq!(neg.remote_rtp.port(), 4002);
}

#[test]
fn no_common_codec_is_488() {
    let body = with_media("m=audio 4000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n");
    let offer = sdp::parse(body.as_bytes()).unwrap();
    let mut origin = SdpOrigin::new(1, 1);
    let err = sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap_err();
    assert_eq!((err.clone(), err.status()), (SdpError::NoCommonCodec, 488));
    // Only video: nothing to serve at all.
    let offer = sdp::parse(with_media("m=video 5000 RTP/AVP 31\r\n").as_bytes()).unwrap();
    assert_eq!(
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin),
        Err(SdpError::NoAcceptableMedia)
    );
    // An unmapped dynamic type never matches.
    let offer = sdp::parse(with_media("m=audio 4000 RTP/AVP 96\r\n").as_bytes()).unwrap();
    assert_eq!(offer.media[0].formats[0], format(96, "", 0, 1, None));
    assert_eq!(
        sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin),
        Err(SdpError::NoCommonCodec)
    );
    assert_eq!(origin.version, 1, "nothing was written");
}

#[test]
fn origin_version_grows_only_when_the_description_changes() {
    let mut origin = SdpOrigin::new(99, 5);
    let asterisk = sdp::parse(ASTERISK.as_bytes()).unwrap();
    let (first, _) = sdp::answer(
        &asterisk,
        &local(),
        &ours(),
        CodecOrder::Offerer,
        &mut origin,
    )
    .unwrap();
    assert!(text(&first).starts_with("v=0\r\no=- 99 5 IN IP4"));
    // A session refresh with the same offer: same answer, same version (RFC 3264 §8).
    let (again, _) = sdp::answer(
        &asterisk,
        &local(),
        &ours(),
        CodecOrder::Offerer,
        &mut origin,
    )
    .unwrap();
    assert_eq!(again, first);
    // A re-offer changing the codec (PCMU only) changes the answer: version 6.
    let pcmu_only = ASTERISK
        .replace("RTP/AVP 8 0 3 101", "RTP/AVP 0 101")
        .replace("a=rtpmap:8 PCMA/8000\r\n", "")
        .replace("a=rtpmap:3 GSM/8000\r\n", "");
    let reoffer = sdp::parse(pcmu_only.as_bytes()).unwrap();
    let (changed, neg) = sdp::answer(
        &reoffer,
        &local(),
        &ours(),
        CodecOrder::Offerer,
        &mut origin,
    )
    .unwrap();
    assert!(text(&changed).starts_with("v=0\r\no=- 99 6 IN IP4"));
    assert_eq!(neg.codec.pt, 0);
    // Then a hold re-offer: 7; and our own offer on the same leg continues the count: 8.
    let hold = sdp::parse(ASTERISK.replace("a=sendrecv", "a=sendonly").as_bytes()).unwrap();
    let (held, neg) =
        sdp::answer(&hold, &local(), &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert!(text(&held).starts_with("v=0\r\no=- 99 7 IN IP4"));
    assert_eq!(neg.direction, MediaDirection::RecvOnly);
    let ours_offer = sdp::offer(
        &local(),
        &ours(),
        true,
        MediaDirection::SendRecv,
        &mut origin,
    );
    assert!(text(&ours_offer).starts_with("v=0\r\no=- 99 8 IN IP4"));
}

#[test]
fn our_offer_is_exact_and_round_trips_through_answer_and_accept() {
    let mut origin = SdpOrigin::new(4242, 1);
    let body = sdp::offer(
        &local(),
        &ours(),
        true,
        MediaDirection::SendRecv,
        &mut origin,
    );
    assert_eq!(
        text(&body),
        "v=0\r\no=- 4242 1 IN IP4 198.51.100.1\r\ns=-\r\nc=IN IP4 198.51.100.1\r\nt=0 0\r\n\
         m=audio 20000 RTP/AVP 96 9 8 0 101 97\r\n\
         a=rtpmap:96 opus/48000/2\r\na=fmtp:96 useinbandfec=1\r\n\
         a=rtpmap:9 G722/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n\
         a=rtpmap:97 telephone-event/48000\r\na=fmtp:97 0-16\r\n\
         a=sendrecv\r\n"
    );
    let offer = sdp::parse(&body).unwrap();
    // A G.711-only callee (Asterisk style), answering with our payload types.
    let callee = LocalMedia {
        addr: IpAddr::from([203, 0, 113, 5]),
        port: 18_234,
    };
    let mut callee_origin = SdpOrigin::new(1, 1);
    let (answer, callee_neg) = sdp::answer(
        &offer,
        &callee,
        &[CodecPref::pcmu()],
        CodecOrder::Offerer,
        &mut callee_origin,
    )
    .unwrap();
    assert_eq!(
        (callee_neg.codec.pt, callee_neg.telephone_event),
        (0, Some(101))
    );
    let neg = sdp::accept_answer(&offer, &sdp::parse(&answer).unwrap()).unwrap();
    assert_eq!(neg.codec, format(0, "PCMU", 8000, 1, None));
    assert_eq!(neg.telephone_event, Some(101));
    assert_eq!(neg.remote_rtp, "203.0.113.5:18234".parse().unwrap());
    assert_eq!(neg.remote_rtcp, Some("203.0.113.5:18235".parse().unwrap()));
    assert_eq!(neg.direction, MediaDirection::SendRecv);
}

#[test]
fn accept_answer_takes_the_answerers_payload_type_and_checks_the_shape() {
    let mut origin = SdpOrigin::new(1, 1);
    let offer = sdp::parse(&sdp::offer(
        &local(),
        &ours(),
        true,
        MediaDirection::SendOnly,
        &mut origin,
    ))
    .unwrap();
    // The answerer renumbers opus to 111 (allowed for what it receives), answers recvonly.
    let answer = sdp::parse(
        with_media("m=audio 30000 RTP/AVP 111 100\r\na=rtpmap:111 OPUS/48000/2\r\na=rtpmap:100 telephone-event/48000\r\na=recvonly\r\na=ptime:40\r\n")
            .as_bytes(),
    )
    .unwrap();
    let neg = sdp::accept_answer(&offer, &answer).unwrap();
    assert_eq!(
        (neg.codec.pt, neg.telephone_event, neg.ptime),
        (111, Some(100), Some(40))
    );
    assert_eq!(neg.direction, MediaDirection::SendOnly);
    // rtcp-mux only when both asked for it (we did not).
    let muxed =
        sdp::parse(with_media("m=audio 30000 RTP/AVP 8\r\na=rtcp-mux\r\n").as_bytes()).unwrap();
    let neg = sdp::accept_answer(&offer, &muxed).unwrap();
    assert!(!neg.rtcp_mux);
    assert_eq!(neg.remote_rtcp, Some("192.0.2.1:30001".parse().unwrap()));
    // Refused, mismatched, or nothing we offered.
    let refused = sdp::parse(with_media("m=audio 0 RTP/AVP 8\r\n").as_bytes()).unwrap();
    assert_eq!(
        sdp::accept_answer(&offer, &refused),
        Err(SdpError::MediaRejected)
    );
    let two =
        sdp::parse(with_media("m=audio 30000 RTP/AVP 8\r\nm=video 0 RTP/AVP 31\r\n").as_bytes())
            .unwrap();
    assert_eq!(
        sdp::accept_answer(&offer, &two),
        Err(SdpError::AnswerMismatch {
            offer: 1,
            answer: 2
        })
    );
    let other = sdp::parse(with_media("m=audio 30000 RTP/AVP 18\r\n").as_bytes()).unwrap();
    assert_eq!(
        sdp::accept_answer(&offer, &other),
        Err(SdpError::NoCommonCodec)
    );
}

#[test]
fn ipv6_addresses_are_parsed_and_printed() {
    let body = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let offer = sdp::parse(body.as_bytes()).unwrap();
    let local6 = LocalMedia {
        addr: "2001:db8::2".parse().unwrap(),
        port: 20_000,
    };
    let mut origin = SdpOrigin::new(1, 1);
    let (bytes, neg) =
        sdp::answer(&offer, &local6, &ours(), CodecOrder::Offerer, &mut origin).unwrap();
    assert!(text(&bytes).contains("c=IN IP6 2001:db8::2\r\n"));
    assert_eq!(neg.remote_rtp, "[2001:db8::1]:4000".parse().unwrap());
}

#[test]
fn malformed_bodies_give_typed_400_errors() {
    let v = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n";
    let cases: Vec<(String, SdpError)> = vec![
        (String::new(), SdpError::MissingVersion),
        (
            "o=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n".into(),
            SdpError::MissingVersion,
        ),
        (
            "v=1\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n".into(),
            SdpError::MissingVersion,
        ),
        (
            "INVITE sip:bob@example.com SIP/2.0\r\n".into(),
            SdpError::Syntax {
                line: 1,
                reason: "not a <type>=<value> line",
            },
        ),
        ("v=0\r\ns=-\r\nt=0 0\r\n".into(), SdpError::MissingLine('o')),
        (
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nt=0 0\r\n".into(),
            SdpError::MissingLine('s'),
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\n".into(),
            SdpError::MissingLine('t'),
        ),
        (
            "v=0\r\no=- 1 x IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\n".into(),
            SdpError::Syntax {
                line: 2,
                reason: "o= version is not a number",
            },
        ),
        (
            format!("{v}m=audio 4000\r\n"),
            SdpError::Syntax {
                line: 6,
                reason: "m= needs media, port and protocol",
            },
        ),
        (
            format!("{v}m=audio port RTP/AVP 0\r\n"),
            SdpError::Syntax {
                line: 6,
                reason: "m= port is not a number",
            },
        ),
        (
            format!("{v}m=audio 70000 RTP/AVP 0\r\n"),
            SdpError::PortOutOfRange { line: 6 },
        ),
        (
            format!("{v}m=audio 4000 RTP/AVP 0 128\r\n"),
            SdpError::BadPayloadType { line: 6 },
        ),
        (
            format!("{v}m=audio 4000 RTP/AVP PCMU\r\n"),
            SdpError::BadPayloadType { line: 6 },
        ),
        (
            format!("{v}m=audio 4000 RTP/AVP 0\r\na=rtpmap:8 PCMA/8000\r\n"),
            SdpError::RtpmapForUnknownPt { pt: 8 },
        ),
        (
            format!("{v}m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/x\r\n"),
            SdpError::Malformed("a=rtpmap:96 has an invalid channel count".into()),
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n".into(),
            SdpError::MissingConnection { index: 0 },
        ),
        (
            "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 media.example.com\r\nt=0 0\r\n"
                .into(),
            SdpError::HostnameAddress,
        ),
    ];
    for (body, expected) in cases {
        let err = sdp::parse(body.as_bytes()).unwrap_err();
        assert_eq!(err, expected, "{body:?}");
        let status = if expected == SdpError::HostnameAddress {
            488
        } else {
            400
        };
        assert_eq!(err.status(), status);
    }
    assert_eq!(
        sdp::parse(&[b'v', b'=', b'0', b'\n', 0xFF, 0xFE]),
        Err(SdpError::NotUtf8)
    );
    // A c= line the parser underneath cannot read.
    let err = sdp::parse(format!("{v}m=audio 4000 RTP/AVP 0\r\nc=IN IPX what\r\n").as_bytes())
        .unwrap_err();
    assert!(matches!(err, SdpError::Malformed(_)), "{err:?}");
    assert_eq!(err.status(), 400);
    // A refused stream needs no connection address.
    assert!(
        sdp::parse(b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n")
            .is_ok()
    );
}

/// Answers `body` if it parses; the answer must parse again and mirror the offer.
fn answer_if_valid(body: &[u8]) {
    if let Ok(offer) = sdp::parse(body) {
        let mut origin = SdpOrigin::new(1, 1);
        if let Ok((answer, _)) =
            sdp::answer(&offer, &local(), &ours(), CodecOrder::Offerer, &mut origin)
        {
            let parsed = sdp::parse(&answer).unwrap();
            assert_eq!(parsed.media.len(), offer.media.len());
        }
    }
}

fn corpus() -> [&'static str; 6] {
    [SIPP, BARESIP, LINPHONE, ZOIPER, ASTERISK, WEBRTC]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        answer_if_valid(&bytes);
    }

    #[test]
    fn random_lines_never_panic(lines in proptest::collection::vec("[vosctma]=[ -~]{0,40}", 0..12)) {
        let body = format!("v=0\r\n{}", lines.join("\r\n"));
        answer_if_valid(body.as_bytes());
    }

    #[test]
    fn mutated_real_offers_never_panic(
        which in 0_usize..6,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        drop_line in proptest::option::of(any::<usize>()),
        dup_line in proptest::option::of(any::<usize>()),
    ) {
        let mut lines: Vec<Vec<u8>> = corpus()[which].split('\n').map(|l| l.as_bytes().to_vec()).collect();
        if let Some(d) = drop_line {
            let i = d % lines.len();
            lines.remove(i);
        }
        if let Some(d) = dup_line.filter(|_| !lines.is_empty()) {
            let i = d % lines.len();
            let copy = lines[i].clone();
            lines.insert(i, copy);
        }
        let mut body = lines.join(&b'\n');
        for (at, v) in flips {
            if !body.is_empty() {
                let i = at % body.len();
                body[i] = v;
            }
        }
        answer_if_valid(&body);
    }
}

#[test]
fn every_real_offer_round_trips_through_our_answer() {
    for offer in corpus() {
        answer_if_valid(offer.as_bytes());
    }
}
