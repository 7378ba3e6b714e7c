//! Our SIP entry point: whatever a socket delivers goes through the wire layer (datagram and
//! stream framing), the error answer is built, and what parses is fed to an endpoint, printed
//! and parsed again; a request the endpoint hands up is checked by the digest authenticator
//! (both credential headers) and refused statelessly, as the switch does for strangers. None of
//! it may panic.
#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_sip::auth::DigestAuthenticator;
use switchboard_sip::endpoint::{Endpoint, EndpointConfig, Event, Output};
use switchboard_sip::transaction::Timers;
use switchboard_sip::wire::{parse_message, StreamFramer};
use switchboard_sip::{Peer, SipMessage, Transport};

fuzz_target!(|data: &[u8]| {
    let mut endpoint = Endpoint::new(EndpointConfig {
        timers: Timers::default(),
        user_agent: "fuzz".into(),
        via_sent_by: Vec::new(),
        allowed_methods: vec![ezk_method()],
        supported: Vec::new(),
        rng_seed: 1,
    });
    let now = Instant::now();
    let peer = Peer { transport: Transport::Udp, addr: SocketAddr::from(([127, 0, 0, 1], 5070)) };
    match parse_message(data) {
        Ok(msg) => {
            let printed = match &msg {
                SipMessage::Request(r) => r.encode(),
                SipMessage::Response(r) => r.encode(),
            };
            let _ = parse_message(&printed);
            endpoint.handle_message(now, peer, msg);
            let mut auth =
                DigestAuthenticator::new("fuzz".into(), [3; 32], Duration::from_secs(300), now);
            while let Some(out) = endpoint.poll_output() {
                match out {
                    Output::Transmit(t) => {
                        let _ = parse_message(&t.bytes);
                    }
                    Output::Event(Event::Request { tx, request, .. }) => {
                        let _ = auth.verify(now, &request, switchboard_sip::ezk::Name::AUTHORIZATION, |u| {
                            (u == "1001").then(|| "secret-1001".to_owned())
                        });
                        let outcome = auth.verify(
                            now,
                            &request,
                            switchboard_sip::ezk::Name::PROXY_AUTHORIZATION,
                            |u| (u == "1001").then(|| "secret-1001".to_owned()),
                        );
                        let response = auth.unauthorized_response(now, &request, &outcome, true);
                        let _ = endpoint.send_stateless_response(tx, response);
                    }
                    Output::Event(_) => {}
                }
            }
            endpoint.handle_timeout(now + Duration::from_secs(64));
            while let Some(out) = endpoint.poll_output() {
                if let Output::Transmit(t) = out {
                    let _ = parse_message(&t.bytes);
                }
            }
        }
        Err(err) => {
            if let Some(response) = err.response() {
                let _ = parse_message(&response.encode());
            }
        }
    }
    let mut framer = StreamFramer::new(4096);
    for chunk in data.chunks(97) {
        framer.push(chunk);
        while let Some(Ok(_)) = framer.next_frame() {}
    }
});

fn ezk_method() -> switchboard_sip::ezk::Method {
    switchboard_sip::ezk::Method::INVITE
}
