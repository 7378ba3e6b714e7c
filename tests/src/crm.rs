//! A CRM for the dialplan's `http` verb: an HTTP/1.1 server on loopback that answers every
//! request with one canned JSON body and keeps what it was sent, so a test can both feed the
//! dialplan (a customer's name) and check what the switch told the CRM (a callback booking).
//!
//! Each answer says `Connection: close`, so every request arrives on a connection of its own
//! and the server never has to track keep-alive. It serves on a background thread until it is
//! dropped, or for `run_for` at most.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::time::Duration;
//! use switchboard_tests::crm::Crm;
//!
//! let crm = Crm::start(r#"{"name":"Dupont"}"#, Duration::from_secs(5)).unwrap();
//! let mut client = std::net::TcpStream::connect(crm.addr()).unwrap();
//! client.write_all(b"GET /customers?phone=1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
//! let mut answer = String::new();
//! client.read_to_string(&mut answer).unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with(r#"{"name":"Dupont"}"#));
//! assert_eq!(crm.requests()[0].target, "/customers?phone=1");
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The largest request body kept (a callback booking is a hundred bytes).
const MAX_BODY: usize = 64 * 1024;
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// One request the CRM received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`…
    pub method: String,
    /// The request target: path and query, as sent.
    pub target: String,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body (lossy UTF-8).
    pub body: String,
}

/// A running CRM; stops when dropped.
#[derive(Debug)]
pub struct Crm {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Crm {
    /// Serves `json` to every request on a free loopback port, for `run_for` at most.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start(json: &str, run_for: Duration) -> io::Result<Crm> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop, json) =
                (Arc::clone(&requests), Arc::clone(&stop), json.to_owned());
            std::thread::spawn(move || serve(&listener, &json, &requests, &stop, run_for))
        };
        Ok(Crm {
            addr,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The requests received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Crm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    listener: &TcpListener,
    json: &str,
    requests: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
    run_for: Duration,
) {
    let deadline = Instant::now() + run_for;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                // A request cut short is not kept; the server goes on.
                let _ = answer(stream, json, requests);
            }
            // Nobody yet: the listener is non-blocking so that `stop` is seen.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return,
        }
    }
}

/// Reads one request from `stream`, keeps it in `requests`, then answers it with `json`: kept
/// first, so whoever has read the answer finds the request in [`Crm::requests`].
fn answer(stream: TcpStream, json: &str, requests: &Mutex<Vec<Request>>) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (mut length, mut content_type) = (0usize, None);
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.to_owned());
            }
        }
    }
    let mut body = vec![0; length.min(MAX_BODY)];
    reader.read_exact(&mut body)?;
    requests
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Request {
            method: method.to_owned(),
            target: target.to_owned(),
            content_type,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{json}",
        json.len()
    );
    reader.get_mut().write_all(reply.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(addr: SocketAddr, request: &[u8]) -> String {
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(request).unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).unwrap();
        answer
    }

    #[test]
    fn every_request_is_answered_and_kept_with_its_body() {
        let crm = Crm::start("{\"id\":\"C-1\"}", Duration::from_secs(5)).unwrap();
        let get = send(crm.addr(), b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(get.contains("Content-Length: 12\r\n") && get.ends_with("{\"id\":\"C-1\"}"));
        let post = b"POST /callbacks HTTP/1.1\r\ncontent-type: application/json\r\n\
                     CONTENT-LENGTH: 7\r\n\r\n{\"n\":1}";
        assert!(send(crm.addr(), post).starts_with("HTTP/1.1 200 OK\r\n"));
        let requests = crm.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(
            (requests[0].method.as_str(), requests[0].target.as_str()),
            ("GET", "/a?b=1")
        );
        assert_eq!(requests[0].body, "");
        assert_eq!(
            requests[1].content_type.as_deref(),
            Some("application/json")
        );
        assert_eq!(requests[1].body, "{\"n\":1}");
    }

    #[test]
    fn a_request_cut_short_is_not_kept_and_the_server_goes_on() {
        let crm = Crm::start("{}", Duration::from_secs(5)).unwrap();
        {
            let mut client = TcpStream::connect(crm.addr()).unwrap();
            client
                .write_all(b"POST / HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
                .unwrap();
        } // closed before the body is complete
        assert!(send(crm.addr(), b"GET / HTTP/1.1\r\n\r\n").ends_with("{}"));
        let requests = crm.requests();
        assert_eq!(requests.len(), 1, "{requests:?}");
        assert_eq!(requests[0].method, "GET");
    }
}
