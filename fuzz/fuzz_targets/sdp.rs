//! SDP bodies from INVITEs and answers: parsing must never panic; anything that parses is
//! answered with our codec list without panicking, and the answer we produce must parse again
//! and mirror the offer's m= lines. The input is also read as an answer to our own offer.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use switchboard_sip::sdp::{self, CodecOrder, CodecPref, LocalMedia, MediaDirection, SdpOrigin};

fuzz_target!(|data: &[u8]| {
    // The m= line limit cuts parsing short; it must not panic either.
    let _ = sdp::parse_with(data, &sdp::SdpLimits { max_media: 1 });
    let Ok(offer) = sdp::parse(data) else {
        return;
    };
    let local = LocalMedia {
        addr: IpAddr::from([198, 51, 100, 1]),
        port: 20_000,
    };
    let codecs = [
        CodecPref::opus(),
        CodecPref::g722(),
        CodecPref::pcma(),
        CodecPref::pcmu(),
    ];
    let mut origin = SdpOrigin::new(1, 1);
    for order in [CodecOrder::Offerer, CodecOrder::Ours] {
        if let Ok((answer, _)) = sdp::answer(&offer, &local, &codecs, order, &mut origin) {
            let parsed = sdp::parse(&answer).expect("our answer parses");
            assert_eq!(parsed.media.len(), offer.media.len());
        }
    }
    let ours = sdp::offer(&local, &codecs, true, MediaDirection::SendRecv, &mut origin);
    let ours = sdp::parse(&ours).expect("our offer parses");
    let _ = sdp::accept_answer(&ours, &offer);
});
