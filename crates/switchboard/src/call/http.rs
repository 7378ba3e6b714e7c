//! The dialplan's `http` verb: one GET or POST to a CRM, bounded by a timeout, its body handed
//! back to the interpreter (which reads JSON fields into variables). Any failure — no server,
//! a timeout, a non-2xx status, an oversized body — is reported as a failure, and the dialplan
//! takes its fallback branch; a CRM that is down never holds a caller.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Largest response body we read (a CRM lookup is a few hundred bytes).
const MAX_BODY: usize = 256 * 1024;

/// A shared HTTP/1.1 client (connections to the CRM are pooled and reused).
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: Client<HttpConnector, Full<Bytes>>,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL is not one we can call (not `http://`, or malformed).
    #[error("bad URL {url:?}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting or talking to the server failed.
    #[error("{0}")]
    Transport(String),
    /// The body was larger than we read.
    #[error("response body over {MAX_BODY} bytes")]
    TooLarge,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The body, as text (lossy UTF-8).
    pub body: String,
}

impl Default for HttpClient {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpClient {
    /// A client with keep-alive connections.
    #[must_use]
    pub fn new() -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        connector.set_nodelay(true);
        HttpClient {
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(30))
                .build(connector),
        }
    }

    /// `method` `url` with an optional JSON body, within `timeout` (connect, send and read).
    ///
    /// # Errors
    /// See [`HttpError`].
    pub async fn request(
        &self,
        method: &str,
        url: &str,
        body: Option<String>,
        timeout: Duration,
    ) -> Result<HttpAnswer, HttpError> {
        let bad = |reason: &str| HttpError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if !url.starts_with("http://") {
            return Err(bad(
                "only http:// URLs are supported (put a TLS proxy in front of an https CRM)",
            ));
        }
        let uri: hyper::Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
        let method: hyper::Method = method.parse().map_err(|_| bad("not an HTTP method"))?;
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(
                "user-agent",
                concat!("switchboard/", env!("CARGO_PKG_VERSION")),
            )
            .header("accept", "application/json");
        if body.is_some() {
            builder = builder.header("content-type", "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| bad(&e.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| HttpError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let bytes = Limited::new(response.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        HttpError::TooLarge
                    } else {
                        HttpError::Transport(e.to_string())
                    }
                })?
                .to_bytes();
            Ok(HttpAnswer {
                status,
                body: String::from_utf8_lossy(&bytes).into_owned(),
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| HttpError::Timeout(timeout))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP server on loopback answering `reply` (or nothing, to time out).
    async fn serve_once(reply: Option<&'static str>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let _ = stream.read(&mut buf).await;
            match reply {
                Some(reply) => {
                    let _ = stream.write_all(reply.as_bytes()).await;
                }
                // A CRM that never answers: the client must time out.
                None => std::future::pending::<()>().await,
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_json_answer_is_read() {
        let addr = serve_once(Some(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"name\":\"Marie\"}",
        ))
        .await;
        let answer = HttpClient::new()
            .request(
                "GET",
                &format!("http://{addr}/c?n=1"),
                None,
                Duration::from_secs(2),
            )
            .await
            .unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "{\"name\":\"Marie\"}");
    }

    #[tokio::test]
    async fn silence_is_a_timeout_and_nothing_listening_is_a_transport_error() {
        let addr = serve_once(None).await;
        let err = HttpClient::new()
            .request(
                "POST",
                &format!("http://{addr}/"),
                Some("{}".into()),
                Duration::from_millis(200),
            )
            .await
            .unwrap_err();
        assert_eq!(err, HttpError::Timeout(Duration::from_millis(200)));
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = HttpClient::new()
            .request(
                "GET",
                &format!("http://{closed}/"),
                None,
                Duration::from_secs(2),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::Transport(_)), "{err:?}");
    }

    #[tokio::test]
    async fn only_http_urls() {
        let err = HttpClient::new()
            .request("GET", "https://crm.example/", None, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::BadUrl { .. }), "{err:?}");
    }
}
