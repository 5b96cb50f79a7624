//! `[store]`, `[recording]`, `[metrics]` and `[alarms]`: where call
//! records, recordings and metrics go, and when the health rates raise an
//! alarm.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::GatewayConfig;
use crate::store::{RecordSettings, StoreError, StoreUrl, Thresholds};

/// `[store]`: the call records.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sqlite:PATH` (relative to the working directory);
    /// `VOICEGATE_STORE_URL` overrides it.
    pub url: String,
    /// Hours QA has to review a questionable transfer.
    pub review_within_h: f64,
    /// A caller with a call this many days before counts as a repeat contact
    /// (and gets more priority).
    pub repeat_window_days: f64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            url: "sqlite:var/voicegate.db".into(),
            review_within_h: 48.0,
            repeat_window_days: 7.0,
        }
    }
}

/// `[crm]`: an optional directory asked, as each call starts, whether its
/// caller is a VIP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrmSettings {
    /// `http://…` with `{caller}` where the caller's number goes; "" for none.
    pub url: String,
    /// Longest wait for the answer; past it the caller is not a VIP.
    pub timeout_ms: u64,
    /// The answer is a JSON object: this field `true` marks a VIP.
    pub vip_field: String,
}

impl Default for CrmSettings {
    fn default() -> Self {
        CrmSettings {
            url: String::new(),
            timeout_ms: 300,
            vip_field: "vip".into(),
        }
    }
}

/// `[recording]`: every call to a WAV file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingSettings {
    pub enabled: bool,
    /// Relative to the working directory.
    pub dir: PathBuf,
    /// Days a recording is kept (0: for ever); older ones are removed at
    /// start and every hour.
    pub retention_days: f64,
    /// A prompt played to every recorded call before anything else ("" for
    /// none); a key or a word cuts it short, as any prompt.
    pub announce: String,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSettings {
            enabled: true,
            dir: PathBuf::from("var/recordings"),
            retention_days: 90.0,
            announce: String::new(),
        }
    }
}

/// `[metrics]`: Prometheus's `GET /metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: true,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// `[http]`: the dashboard, its JSON API and live event stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpSettings {
    pub enabled: bool,
    pub listen: std::net::SocketAddr,
    /// Required of every request when set; must be set when `listen` is
    /// reachable beyond this machine.
    pub token: String,
    /// Take calls from browsers (`/phone`, WebRTC) into the same call core.
    pub webrtc: bool,
    /// Browser calls up at once; more get 503.
    pub max_browser_calls: usize,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            enabled: true,
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: String::new(),
            webrtc: true,
            max_browser_calls: 20,
        }
    }
}

/// `[alarms]`: the health rates' thresholds (shares of answered calls).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlarmSettings {
    pub session_break: f64,
    pub repeat_contact: f64,
    pub forced_transfer: f64,
}

impl Default for AlarmSettings {
    fn default() -> Self {
        let defaults = Thresholds::default();
        AlarmSettings {
            session_break: defaults.session_break,
            repeat_contact: defaults.repeat_contact,
            forced_transfer: defaults.forced_transfer,
        }
    }
}

impl GatewayConfig {
    /// The store every command reads and writes.
    pub fn store_url(&self) -> Result<StoreUrl, StoreError> {
        StoreUrl::resolve(&self.store.url)
    }

    pub fn repeat_window(&self) -> Duration {
        Duration::from_secs_f64(self.store.repeat_window_days * 86_400.0)
    }

    pub fn alarm_thresholds(&self) -> Thresholds {
        Thresholds {
            session_break: self.alarms.session_break,
            repeat_contact: self.alarms.repeat_contact,
            forced_transfer: self.alarms.forced_transfer,
        }
    }

    /// How long recordings are kept, if not for ever.
    pub fn recording_retention(&self) -> Option<Duration> {
        (self.recording.enabled && self.recording.retention_days > 0.0)
            .then(|| Duration::from_secs_f64(self.recording.retention_days * 86_400.0))
    }

    /// The prompt that tells a recorded caller so, if one is set.
    pub fn recording_notice(&self) -> Option<String> {
        let announce = self.recording.announce.trim();
        (self.recording.enabled && !announce.is_empty()).then(|| announce.to_string())
    }

    /// What the store's sink needs beyond the events.
    pub fn record_settings(&self) -> RecordSettings {
        RecordSettings {
            anger_threshold: self.policy.anger_threshold,
            review_within: Duration::from_secs_f64(self.store.review_within_h * 3600.0),
            recordings: self.recording.enabled.then(|| self.recording.dir.clone()),
        }
    }
}
