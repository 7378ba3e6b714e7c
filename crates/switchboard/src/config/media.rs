//! `[media]` and `[recording]`: where RTP is anchored, which codecs we offer, when a silent leg
//! is hung up, and where recordings go.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// Codecs Switchboard can negotiate, by their SDP encoding names.
pub const KNOWN_CODECS: [&str; 4] = ["PCMA", "PCMU", "G722", "opus"];

/// `[media]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The address RTP sockets bind to.
    pub rtp_address: IpAddr,
    /// The address written into SDP, when phones must reach us at another one (NAT, 0.0.0.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_address: Option<IpAddr>,
    /// Lowest RTP port (even); each leg takes an even port for RTP and the next odd one for RTCP.
    pub rtp_port_min: u16,
    /// Highest RTP port.
    pub rtp_port_max: u16,
    /// Codecs offered and accepted, in order of preference.
    pub codecs: Vec<String>,
    /// Packet time we send, in milliseconds.
    pub ptime_ms: u32,
    /// A leg that sends no RTP for this long is hung up (0: never).
    pub timeout_s: u32,
    /// The same while the leg is on hold (phones on hold often stop sending; 0: never).
    pub hold_timeout_s: u32,
    /// Jitter buffer bounds, in milliseconds, wherever audio is decoded.
    pub jitter_min_ms: u32,
    /// Upper bound of the adaptive jitter buffer.
    pub jitter_max_ms: u32,
    /// Media worker threads (0: one per CPU core).
    pub workers: usize,
    /// Listen for DTMF tones in the audio while the dialplan waits for digits.
    pub inband_dtmf: bool,
    /// Country whose ringback, busy and congestion tones callers hear (FR, US, UK).
    pub tones: String,
    /// Folder of WAV files played, in order and looping, to callers on hold.
    pub moh_dir: String,
    /// The most `m=` lines an SDP body may have; an offer with more is refused with 488.
    pub max_sdp_media: usize,
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            rtp_address: IpAddr::from([127, 0, 0, 1]),
            advertised_address: None,
            rtp_port_min: 20000,
            rtp_port_max: 29999,
            codecs: KNOWN_CODECS.iter().map(|c| (*c).to_owned()).collect(),
            ptime_ms: 20,
            timeout_s: 30,
            hold_timeout_s: 0,
            jitter_min_ms: 20,
            jitter_max_ms: 200,
            workers: 0,
            inband_dtmf: true,
            tones: "FR".into(),
            moh_dir: "sounds/moh".into(),
            max_sdp_media: 16,
        }
    }
}

impl MediaConfig {
    /// Ranges, codec names and tone country.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: format!("media.{key}"),
                message,
            })
        };
        if self.rtp_port_min < 1024 || !self.rtp_port_min.is_multiple_of(2) {
            return invalid(
                "rtp_port_min",
                format!("{}: use an even port of 1024 or more", self.rtp_port_min),
            );
        }
        if self.rtp_port_max <= self.rtp_port_min {
            return invalid(
                "rtp_port_max",
                format!(
                    "{} is not above media.rtp_port_min ({})",
                    self.rtp_port_max, self.rtp_port_min
                ),
            );
        }
        if self.codecs.is_empty() {
            return invalid("codecs", format!("list at least one of {KNOWN_CODECS:?}"));
        }
        for (i, codec) in self.codecs.iter().enumerate() {
            if !KNOWN_CODECS.iter().any(|k| k.eq_ignore_ascii_case(codec)) {
                return invalid(
                    &format!("codecs[{i}]"),
                    format!("{codec:?} is not a codec Switchboard has; use {KNOWN_CODECS:?}"),
                );
            }
        }
        if ![10, 20, 30, 40, 60].contains(&self.ptime_ms) {
            return invalid(
                "ptime_ms",
                format!("{}: use 10, 20, 30, 40 or 60", self.ptime_ms),
            );
        }
        if self.jitter_min_ms > self.jitter_max_ms || self.jitter_max_ms > 2000 {
            return invalid(
                "jitter_max_ms",
                "the jitter bounds must satisfy jitter_min_ms <= jitter_max_ms <= 2000".into(),
            );
        }
        if !(1..=128).contains(&self.max_sdp_media) {
            return invalid(
                "max_sdp_media",
                format!("{}: use 1 to 128", self.max_sdp_media),
            );
        }
        if !["FR", "US", "UK"].contains(&self.tones.to_ascii_uppercase().as_str()) {
            return invalid(
                "tones",
                format!("{:?}: use \"FR\", \"US\" or \"UK\"", self.tones),
            );
        }
        Ok(())
    }
}

/// `[recording]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Record every bridged call (stereo: caller left, agent right).
    pub enabled: bool,
    /// Where recordings go. `{date}` (YYYY-MM-DD), `{time}` (HHMMSS), `{call_id}`, `{caller}`,
    /// `{agent}` (and its older name `{callee}`) are replaced; relative paths are from the
    /// working directory.
    pub path: String,
    /// Sample rate of the files: 8000 (telephone) or 16000 (wideband phones keep their quality).
    pub sample_rate: u32,
    /// Where the dialplan's `record`/`voicemail` files go (their paths are relative to it).
    pub voicemail_dir: String,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: true,
            path: "recordings/{date}/{time}-{call_id}-{agent}.wav".into(),
            sample_rate: 8000,
            voicemail_dir: "recordings/voicemail".into(),
        }
    }
}

impl RecordingConfig {
    /// Rate and template.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if ![8000, 16000].contains(&self.sample_rate) {
            return Err(ConfigError::Invalid {
                key: "recording.sample_rate".into(),
                message: format!("{}: use 8000 or 16000", self.sample_rate),
            });
        }
        if !self.path.contains("{call_id}") {
            return Err(ConfigError::Invalid {
                key: "recording.path".into(),
                message: format!(
                    "{:?} has no {{call_id}}: two calls would write the same file",
                    self.path
                ),
            });
        }
        Ok(())
    }
}
