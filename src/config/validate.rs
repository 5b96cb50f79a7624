//! Checks of a gateway.toml beyond its schema: ranges, references between
//! sections, the words the keyword model can hear; every error names the
//! key's line.

use std::path::Path;

use super::{ConfigError, GatewayConfig};
use crate::menu::normalize_phrase;
use crate::source::FileError;

impl GatewayConfig {
    pub(super) fn validate(&self, text: &str) -> Result<(), ConfigError> {
        let invalid = |section: &str, key: &str, message: String| -> ConfigError {
            FileError::invalid(&self.source, line_of_key(text, section, key), message).into()
        };
        for (reason, queue) in self.routing.entries() {
            if !self.queues.contains_key(queue) {
                return Err(invalid(
                    "routing",
                    reason.as_str(),
                    format!(
                        "routing.{reason} names queue {queue:?}, which is not defined: add [queues.{queue}] with a uri"
                    ),
                ));
            }
        }
        let sip = &self.sip;
        if !sip
            .product
            .chars()
            .all(|c| c.is_ascii_graphic() || c == ' ')
        {
            return Err(invalid(
                "sip",
                "product",
                "sip.product must be printable ASCII (a header value): e.g. \"voicegate\", or \"\" for none".into(),
            ));
        }
        if sip.listen.ip().is_unspecified() && sip.advertise.is_none() {
            return Err(invalid("sip", "listen", format!("sip.listen {} is a wildcard address: set sip.advertise to the IP address phones and trunks reach voicegate at", sip.listen)));
        }
        if let Some(register) = &sip.register {
            if !register.registrar.starts_with("sip:") || register.registrar.len() <= 4 {
                return Err(invalid(
                    "sip.register",
                    "registrar",
                    format!(
                        "sip.register.registrar {:?} is not a SIP URI: write it as sip:HOST[:PORT]",
                        register.registrar
                    ),
                ));
            }
        }
        self.validate_auth()?;
        if let Some(message) = crm_url_problem(&self.crm.url) {
            return Err(invalid("crm", "url", message));
        }
        let http = &self.http;
        if http.enabled && !http.listen.ip().is_loopback() && http.token.is_empty() {
            return Err(invalid("http", "listen", format!("http.listen {} is reachable beyond this machine: set http.token (every request must then give it), or listen on 127.0.0.1", http.listen)));
        }
        for (name, queue) in &self.queues {
            if let Some(message) = agent_page_problem(&queue.uri, http) {
                return Err(invalid(&format!("queues.{name}"), "uri", message));
            }
        }
        let [low, high] = self.rtp.ports;
        if low > high || low == 0 {
            return Err(invalid("rtp", "ports", format!("rtp.ports [{low}, {high}] is not a range: give [LOW, HIGH] with 0 < LOW <= HIGH")));
        }
        for (section, key, ok, rule) in self.range_checks() {
            if !ok {
                return Err(invalid(section, key, format!("{section}.{key} {rule}")));
            }
        }
        Ok(())
    }
}

/// What is wrong with a queue's agent-page target, if it is one: agents
/// answer on `/agent?queue=NAME` over WebRTC, so the page must be served.
fn agent_page_problem(uri: &str, http: &super::HttpSettings) -> Option<String> {
    if !uri.starts_with('/') {
        return None;
    }
    let Some(name) = crate::callcore::agent_page_queue(uri) else {
        return Some(format!("uri {uri:?} is neither a SIP URI nor an agent page: write sip:USER@HOST:PORT, or /agent?queue=NAME for agents answering in the browser"));
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if name.is_empty() || name.len() > 64 || !name.chars().all(allowed) {
        return Some(format!("the agent page's queue {name:?} must be 1-64 letters, digits, '-' or '_' (it goes in the page's URL)"));
    }
    if !http.enabled || !http.webrtc {
        return Some(format!("uri {uri:?} is a browser agent page, which needs [http] enabled = true and webrtc = true"));
    }
    None
}

/// What is wrong with `[crm] url`, if anything ("" is no CRM).
fn crm_url_problem(url: &str) -> Option<String> {
    if url.is_empty() {
        return None;
    }
    if !url.starts_with("http://") {
        return Some(format!("crm.url {url:?} must start with http:// (TLS is not built in: put a local proxy in front of an https CRM)"));
    }
    if !url.contains("{caller}") {
        return Some(format!("crm.url {url:?} has no {{caller}}: write where the caller's number goes, e.g. http://crm.local/callers/{{caller}}"));
    }
    None
}

impl GatewayConfig {
    /// `untrusted_invites = "authenticate"` needs users to authenticate as;
    /// the realm goes into a quoted header value as it is.
    fn validate_auth(&self) -> Result<(), ConfigError> {
        let sip = &self.sip;
        let users = sip.auth.as_ref().map_or(0, |auth| auth.users.len());
        if sip.untrusted_invites == crate::sip::Untrusted::Authenticate && users == 0 {
            return Err(self.invalid_at("sip", "untrusted_invites", "sip.untrusted_invites = \"authenticate\" needs users: add [sip.auth] with users = { NAME = \"PASSWORD\" }".to_string()));
        }
        let Some(auth) = &sip.auth else {
            return Ok(());
        };
        let plain = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
        };
        if !plain(&auth.realm) || !auth.users.keys().all(|user| plain(user)) {
            return Err(self.invalid_at("sip.auth", "realm", "sip.auth realm and user names must be printable ASCII without spaces, quotes or backslashes".to_string()));
        }
        if !(1.0..=86_400.0).contains(&auth.nonce_s) || !(1..=1000).contains(&auth.max_failures) {
            return Err(self.invalid_at(
                "sip.auth",
                "nonce_s",
                "sip.auth nonce_s must be 1 to 86400 seconds and max_failures 1 to 1000"
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// The numbers that must lie in a range: (section, key, in range, rule).
    fn range_checks(&self) -> Vec<(&'static str, &'static str, bool, &'static str)> {
        let (sip, policy) = (&self.sip, &self.policy);
        let within = |value: f64, low: f64, high: f64| (low..=high).contains(&value);
        let mut checks = vec![
            (
                "http",
                "max_browser_calls",
                (1..=10_000).contains(&self.http.max_browser_calls),
                "must be between 1 and 10000 calls",
            ),
            (
                "scoring",
                "smoothing",
                self.scoring.smoothing > 0.0 && self.scoring.smoothing <= 1.0,
                "must be in (0, 1]: the share of each new score",
            ),
            (
                "scoring",
                "queue_windows",
                (16..=1_000_000).contains(&self.scoring.queue_windows),
                "must be between 16 and 1000000 windows",
            ),
            (
                "scoring",
                "keyword_threads",
                (1..=64).contains(&self.scoring.keyword_threads),
                "must be between 1 and 64 threads",
            ),
            (
                "sip",
                "ring_s",
                within(sip.ring_s, 0.0, 60.0),
                "must be between 0 and 60 seconds",
            ),
            (
                "sip",
                "source_rate",
                sip.source_rate > 0.0 && sip.source_rate <= 10_000.0,
                "must be above 0 and at most 10000 requests a second",
            ),
            (
                "sip",
                "source_burst",
                within(sip.source_burst, 1.0, 100_000.0),
                "must be between 1 and 100000 requests",
            ),
            (
                "sip",
                "ban_s",
                within(sip.ban_s, 0.0, 86_400.0),
                "must be between 0 and 86400 seconds",
            ),
            (
                "sip",
                "drain_s",
                within(sip.drain_s, 0.0, 3600.0),
                "must be between 0 and 3600 seconds",
            ),
            (
                "sip",
                "tcp_connections",
                (1..=100_000).contains(&sip.tcp_connections),
                "must be between 1 and 100000",
            ),
            (
                "sip",
                "tcp_per_source",
                (1..=sip.tcp_connections).contains(&sip.tcp_per_source),
                "must be at least 1 and at most sip.tcp_connections",
            ),
            (
                "sip",
                "tcp_idle_s",
                within(sip.tcp_idle_s, 1.0, 86_400.0),
                "must be between 1 and 86400 seconds",
            ),
            (
                "sip",
                "tcp_read_s",
                within(sip.tcp_read_s, 0.1, 600.0),
                "must be between 0.1 and 600 seconds",
            ),
            (
                "sip",
                "max_transactions",
                (100..=1_000_000).contains(&sip.max_transactions),
                "must be between 100 and 1000000",
            ),
            (
                "sip",
                "max_calls",
                (1..=100_000).contains(&sip.max_calls),
                "must be between 1 and 100000",
            ),
            (
                "rtp",
                "inactivity_s",
                self.rtp.inactivity_s > 0.0 && self.rtp.inactivity_s <= 3600.0,
                "must be above 0 and at most 3600 seconds",
            ),
            (
                "crm",
                "timeout_ms",
                (10..=5000).contains(&self.crm.timeout_ms),
                "must be between 10 and 5000 ms (a caller waits for the answer)",
            ),
            (
                "store",
                "review_within_h",
                within(self.store.review_within_h, 1.0, 8760.0),
                "must be between 1 and 8760 hours",
            ),
            (
                "store",
                "repeat_window_days",
                within(self.store.repeat_window_days, 0.0, 3650.0),
                "must be between 0 and 3650 days",
            ),
            (
                "recording",
                "retention_days",
                within(self.recording.retention_days, 0.0, 36_500.0),
                "must be between 0 (keep for ever) and 36500 days",
            ),
            (
                "alarms",
                "session_break",
                within(self.alarms.session_break, 0.0, 1.0),
                "must be a share between 0 and 1 (0.15 is 15 %)",
            ),
            (
                "alarms",
                "repeat_contact",
                within(self.alarms.repeat_contact, 0.0, 1.0),
                "must be a share between 0 and 1 (0.25 is 25 %)",
            ),
            (
                "alarms",
                "forced_transfer",
                within(self.alarms.forced_transfer, 0.0, 1.0),
                "must be a share between 0 and 1 (0.40 is 40 %)",
            ),
            (
                "transfer",
                "retry_s",
                within(self.transfer.retry_s, 1.0, 3600.0),
                "must be between 1 and 3600 seconds",
            ),
            (
                "transfer",
                "expected_wait_s",
                within(self.transfer.expected_wait_s, 1.0, 3600.0),
                "must be between 1 and 3600 seconds",
            ),
            (
                "policy",
                "anger_threshold",
                (0.0..=100.0).contains(&policy.anger_threshold),
                "must be within 0..=100",
            ),
            (
                "policy",
                "anger_sustain",
                policy.anger_sustain >= 1,
                "must be at least 1",
            ),
            (
                "policy",
                "human_repeats",
                policy.human_repeats >= 1,
                "must be at least 1",
            ),
            (
                "policy",
                "max_hops",
                policy.max_hops >= 1,
                "must be at least 1",
            ),
            (
                "policy",
                "max_node_visits",
                policy.max_node_visits >= 1,
                "must be at least 1",
            ),
            (
                "policy",
                "max_wait_s",
                seconds_ok(policy.max_wait_s),
                "must be a number of seconds above 0, at most 86400",
            ),
            (
                "policy",
                "no_input_s",
                seconds_ok(policy.no_input_s),
                "must be a number of seconds above 0, at most 86400",
            ),
        ];
        if let Some(register) = &sip.register {
            checks.push((
                "sip.register",
                "expires",
                (60..=86_400).contains(&register.expires),
                "must be between 60 and 86400 seconds",
            ));
        }
        checks
    }

    /// Checks that voicegate can hear every word the configuration acts on,
    /// with `classes` the keyword model's (from `model_path`): a word without
    /// a class would otherwise be silently never heard. Returns the words
    /// heard in every state of a call (the policy's human and complaint words).
    pub fn check_keyword_words(
        &self,
        classes: &[String],
        model_path: &Path,
    ) -> Result<Vec<String>, ConfigError> {
        let classes: Vec<String> = classes.iter().map(|c| normalize_phrase(c)).collect();
        for word in &self.keywords.words {
            if !classes.contains(&normalize_phrase(word)) {
                return Err(self.invalid_at("keywords", "words", format!(
                    "keywords.words has {word:?}, which the keyword model {} has no class for: remove it, or retrain the model with it (tools/train/train_kws.sh)",
                    model_path.display()
                )));
            }
        }
        let listened: Vec<String> = self
            .keywords
            .words
            .iter()
            .map(|w| normalize_phrase(w))
            .collect();
        let acted_on = [
            ("human_words", &self.policy.human_words),
            ("complaint_words", &self.policy.complaint_words),
        ];
        for (key, words) in &acted_on {
            if let Some(word) = words
                .iter()
                .find(|w| !listened.contains(&normalize_phrase(w)))
            {
                return Err(self.invalid_at("policy", key, format!(
                    "policy.{key} has {word:?}, which voicegate does not listen for: add it to keywords.words (the keyword model must have it)"
                )));
            }
        }
        Ok(acted_on
            .iter()
            .flat_map(|(_, words)| words.iter().cloned())
            .collect())
    }

    fn invalid_at(&self, section: &str, key: &str, message: String) -> ConfigError {
        FileError::invalid(&self.source, line_of_key(&self.text, section, key), message).into()
    }
}

/// A policy duration the engine's clock can hold: above zero, at most a day.
fn seconds_ok(seconds: f64) -> bool {
    seconds > 0.0 && seconds <= 86_400.0
}

/// The line of `key` inside `[section]`, or of the section header, or 1.
fn line_of_key(text: &str, section: &str, key: &str) -> usize {
    let header = format!("[{section}]");
    let mut in_section = false;
    let mut header_line = 1;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed.split('#').next().map(str::trim) == Some(header.as_str());
            if in_section {
                header_line = index + 1;
            }
        } else if in_section && trimmed.split('=').next().map(str::trim) == Some(key) {
            return index + 1;
        }
    }
    header_line
}

#[cfg(test)]
mod tests {
    use super::line_of_key;
    use crate::config::GatewayConfig;
    use std::path::Path;

    #[test]
    fn a_limit_out_of_its_range_is_refused_with_its_line_and_rule() {
        for (section, key, value, rule) in [
            (
                "sip",
                "tcp_connections",
                "0",
                "must be between 1 and 100000",
            ),
            (
                "sip",
                "tcp_per_source",
                "5000",
                "must be at least 1 and at most sip.tcp_connections",
            ),
            (
                "sip",
                "max_transactions",
                "5",
                "must be between 100 and 1000000",
            ),
            (
                "sip",
                "tcp_idle_s",
                "0",
                "must be between 1 and 86400 seconds",
            ),
            (
                "sip",
                "tcp_read_s",
                "1e9",
                "must be between 0.1 and 600 seconds",
            ),
            (
                "scoring",
                "queue_windows",
                "1",
                "must be between 16 and 1000000",
            ),
            (
                "scoring",
                "keyword_threads",
                "0",
                "must be between 1 and 64 threads",
            ),
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sip-config/gateway.toml");
            let sample = std::fs::read_to_string(&path).unwrap();
            let header = format!("[{section}]");
            let at = sample.lines().position(|l| l.starts_with(&header)).unwrap();
            let mut lines: Vec<String> = sample.lines().map(String::from).collect();
            lines.insert(at + 1, format!("{key} = {value}"));
            let error = GatewayConfig::from_text(&lines.join("\n"), &path)
                .map(|_| ())
                .expect_err(key)
                .to_string();
            let expected = format!("gateway.toml:{}: {section}.{key} {rule}", at + 2);
            assert!(error.contains(&expected), "{error}");
        }
    }

    #[test]
    fn keys_are_found_under_headers_with_comments() {
        let text = "[sip]\nlisten = 1\n[keywords]   # words heard\nmodel = \"m\"\nwords = [\"a\",\n  \"b\"]\n";
        assert_eq!(line_of_key(text, "keywords", "words"), 5);
        assert_eq!(
            line_of_key(text, "keywords", "absent"),
            3,
            "the header's line"
        );
        assert_eq!(line_of_key(text, "nowhere", "words"), 1);
    }
}
