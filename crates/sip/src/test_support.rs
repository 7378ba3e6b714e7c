//! Helpers for this crate's unit tests: messages written as text.

use crate::message::{Request, Response, SipMessage};
use crate::wire::parse_message;

/// Parses a request written with `\n` line ends.
pub(crate) fn req(text: &str) -> Request {
    match parse_message(text.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes()) {
        Ok(SipMessage::Request(r)) => r,
        other => panic!("bad test request: {other:?}"),
    }
}

/// Parses a response written with `\n` line ends.
pub(crate) fn resp(text: &str) -> Response {
    match parse_message(text.replace("\r\n", "\n").replace('\n', "\r\n").as_bytes()) {
        Ok(SipMessage::Response(r)) => r,
        other => panic!("bad test response: {other:?}"),
    }
}
