//! `[api]`: the admin HTTP API (`/api/v1`, `/health`, `/ready`, `/metrics`).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Tokens shorter than this are refused: a bearer token is a password.
pub const MIN_TOKEN_LEN: usize = 16;

fn invalid(key: &str, message: String) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key: format!("api.{key}"),
        message,
    })
}

/// `[api]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Whether the API listens at all.
    pub enabled: bool,
    /// Where it listens (loopback unless `insecure_http`).
    pub listen: SocketAddr,
    /// Admin bearer tokens (`Authorization: Bearer …`); `SWITCHBOARD_API_TOKEN` adds one.
    #[serde(skip_serializing)]
    pub tokens: Vec<String>,
    /// Allow plain HTTP on an address other than loopback (behind a TLS-terminating proxy on
    /// the same host or network you trust). Without it such an address is refused.
    pub insecure_http: bool,
    /// Whether `/metrics` answers without a token (Prometheus on a trusted network).
    pub metrics_public: bool,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: true,
            listen: ([127, 0, 0, 1], 8080).into(),
            tokens: Vec::new(),
            insecure_http: false,
            metrics_public: false,
        }
    }
}

impl ApiConfig {
    /// Checks the listener and the tokens.
    ///
    /// # Errors
    /// A non-loopback address without `insecure_http`, or a token too short.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.enabled && !self.listen.ip().is_loopback() && !self.insecure_http {
            return invalid(
                "listen",
                format!(
                    "{} is not loopback, and the API has no TLS of its own yet: listen on \
                     127.0.0.1 behind a TLS proxy, or set insecure_http = true if the network \
                     is trusted",
                    self.listen
                ),
            );
        }
        if let Some(i) = self.tokens.iter().position(|t| t.len() < MIN_TOKEN_LEN) {
            return invalid(
                &format!("tokens[{i}]"),
                format!(
                    "a token is a password: give at least {MIN_TOKEN_LEN} characters (e.g. \
                     `openssl rand -hex 24`)"
                ),
            );
        }
        Ok(())
    }

    /// The admin tokens: the configured ones and `SWITCHBOARD_API_TOKEN` (when long enough).
    #[must_use]
    pub fn admin_tokens(&self) -> Vec<String> {
        let mut tokens = self.tokens.clone();
        if let Ok(token) = std::env::var("SWITCHBOARD_API_TOKEN") {
            let token = token.trim().to_owned();
            if token.len() >= MIN_TOKEN_LEN {
                tokens.push(token);
            } else if !token.is_empty() {
                tracing::warn!(
                    "SWITCHBOARD_API_TOKEN is shorter than {MIN_TOKEN_LEN} characters and is ignored"
                );
            }
        }
        tokens
    }
}
