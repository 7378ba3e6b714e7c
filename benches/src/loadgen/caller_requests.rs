//! The requests the generator's caller side writes to the switch: the INVITE with its offer
//! (RFC 3261 §8.1.1), the CANCEL and failure ACK that share its branch (§9.1, §17.1.1.3), and the
//! in-dialog ACK of a 2xx and BYE, each on a branch of its own (§13.2.2.4, §15.1.1).
//!
//! Call `i` of a run always uses the same names, so that every message of a call can be told
//! apart and matched from the text alone: From user `lg-i` (what pairs the switch's agent-side
//! INVITE with the call), From tag `lgc<i>-<run>`, branches `z9hG4bK-lg<run>-<i>-<n>` with
//! `n` = 1 for the INVITE, 2 for the 2xx ACK, 3 for the BYE.

use crate::loadgen::packet::CallIndex;
use crate::loadgen::sdp;
use crate::loadgen::signalling::{CallMedia, SignallingConfig};
use crate::loadgen::sip_text;

/// The Request-URI of every INVITE: the agent's extension at the switch.
#[must_use]
pub fn request_uri(config: &SignallingConfig) -> String {
    format!("sip:{}@{}", config.extension, config.switch)
}

/// Writes the requests of one call.
#[derive(Debug, Clone, Copy)]
pub struct CallerRequests<'a> {
    /// The run's settings.
    pub config: &'a SignallingConfig,
    /// The call.
    pub call: CallIndex,
    /// Its Call-ID.
    pub call_id: &'a str,
}

impl CallerRequests<'_> {
    fn from(&self) -> String {
        let (call, ip) = (self.call, self.config.caller_sip.ip());
        format!(
            "\"{call}\" <sip:{call}@{ip}>;tag=lgc{}-{:x}",
            call.0, self.config.run_id
        )
    }

    fn via(&self, n: u32) -> String {
        let (addr, run) = (self.config.caller_sip, self.config.run_id);
        format!(
            "SIP/2.0/UDP {addr};branch=z9hG4bK-lg{run:x}-{}-{n};rport",
            self.call.0
        )
    }

    fn write(&self, method: &str, uri: &str, headers: &[(&str, String)], body: &str) -> Vec<u8> {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        sip_text::request(method, uri, &headers, body)
    }

    /// The INVITE, offering the caller's codec on `media.caller`.
    #[must_use]
    pub fn invite(&self, media: CallMedia) -> Vec<u8> {
        let body = sdp::offer(
            media.caller.ip(),
            media.caller.port(),
            self.config.caller_codec,
            u64::from(self.call.0),
        );
        let uri = request_uri(self.config);
        let headers = [
            ("Via", self.via(1)),
            ("Max-Forwards", "70".to_owned()),
            ("From", self.from()),
            ("To", format!("<{uri}>")),
            ("Call-ID", self.call_id.to_owned()),
            ("CSeq", "1 INVITE".to_owned()),
            (
                "Contact",
                format!("<sip:{}@{}>", self.call, self.config.caller_sip),
            ),
            ("User-Agent", "switchboard-loadgen".to_owned()),
            ("Content-Type", "application/sdp".to_owned()),
        ];
        self.write("INVITE", &uri, &headers, &body)
    }

    /// A CANCEL, or the ACK of a failure response (with its To tag): same Request-URI, branch
    /// and CSeq number as the INVITE.
    #[must_use]
    pub fn invite_like(&self, method: &str, to_tag: &str) -> Vec<u8> {
        let uri = request_uri(self.config);
        let to = if to_tag.is_empty() {
            format!("<{uri}>")
        } else {
            format!("<{uri}>;tag={to_tag}")
        };
        let headers = [
            ("Via", self.via(1)),
            ("Max-Forwards", "70".to_owned()),
            ("From", self.from()),
            ("To", to),
            ("Call-ID", self.call_id.to_owned()),
            ("CSeq", format!("1 {method}")),
        ];
        self.write(method, &uri, &headers, "")
    }

    /// The ACK of a 2xx or a BYE, to the remote target the 2xx's Contact named.
    #[must_use]
    pub fn in_dialog(&self, method: &str, cseq: u32, to_tag: &str, target: &str) -> Vec<u8> {
        let headers = [
            ("Via", self.via(if method == "ACK" { 2 } else { 3 })),
            ("Max-Forwards", "70".to_owned()),
            ("From", self.from()),
            ("To", format!("<{}>;tag={to_tag}", request_uri(self.config))),
            ("Call-ID", self.call_id.to_owned()),
            ("CSeq", format!("{cseq} {method}")),
        ];
        self.write(method, target, &headers, "")
    }
}
