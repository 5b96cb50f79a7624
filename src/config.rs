//! `sip-config/gateway.toml`: policy thresholds, routing, queues, VIPs and the
//! menu to run. Unknown keys are errors; every error names file:line.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::engine::{EngineConfig, Policy, Routing, Vip};
use crate::infer::{InferError, KeywordModel, WindowModel};
use crate::menu::{self, normalize_phrase, CheckOptions, Menu};
use crate::source::{read_text, FileError};

/// The sample configuration, built into the binary so that it runs with no files.
pub const EMBEDDED_CONFIG: &str = include_str!("../sip-config/gateway.toml");
/// The menu the sample configuration names.
pub const EMBEDDED_MENU: &str = include_str!("../sip-config/menus/main.toml");
/// Where the embedded files live in the source tree, for messages and prompt lookup.
pub const DEFAULT_CONFIG_PATH: &str = "sip-config/gateway.toml";

/// A configuration (or the menu it names) that cannot be used, or a model
/// it names that does not load.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Model(#[from] InferError),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub routing: Routing,
    #[serde(default)]
    pub vip: Vip,
    #[serde(default)]
    pub queues: BTreeMap<String, Queue>,
    #[serde(default)]
    pub menu: MenuSettings,
    #[serde(default)]
    pub scoring: Scoring,
    #[serde(default)]
    pub keywords: KeywordSettings,
    #[serde(default)]
    pub sip: SipSettings,
    #[serde(default)]
    pub rtp: RtpSettings,
    #[serde(default)]
    pub transfer: TransferSettings,
    /// The directory relative paths are resolved against (the config file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
    /// Where this configuration came from, for messages.
    #[serde(skip)]
    pub source: PathBuf,
    /// Its text, for the line numbers of later checks.
    #[serde(skip)]
    text: String,
}

/// `[keywords]`: the keyword model and the words voicegate listens for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeywordSettings {
    /// The keyword model's manifest, relative to gateway.toml.
    pub model: PathBuf,
    /// Words heard on calls; each must be a class of the model. Policy words
    /// act on them, spoken digits choose menu options, and menu phrases
    /// among them match spoken options.
    pub words: Vec<String>,
}

impl Default for KeywordSettings {
    fn default() -> Self {
        let words = [
            "agent",
            "representative",
            "operator",
            "complaint",
            "refund",
            "yes",
            "no",
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "人工",
            "转人工",
            "投诉",
            "赔偿",
            "是",
            "不是",
            "零",
            "一",
            "二",
            "三",
            "四",
            "五",
            "六",
            "七",
            "八",
            "九",
        ];
        KeywordSettings {
            model: PathBuf::from("../models/kws.toml"),
            words: words.map(String::from).to_vec(),
        }
    }
}

/// A place calls are transferred to.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// SIP URI used as Refer-To.
    pub uri: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MenuSettings {
    /// The menu file, relative to gateway.toml.
    pub file: PathBuf,
    /// The prompts directory, relative to gateway.toml.
    pub prompts: PathBuf,
}

impl Default for MenuSettings {
    fn default() -> Self {
        MenuSettings {
            file: PathBuf::from("menus/main.toml"),
            prompts: PathBuf::from("prompts"),
        }
    }
}

/// How the caller's audio becomes anger scores.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scoring {
    /// The anger model's manifest, relative to gateway.toml.
    pub anger_model: PathBuf,
    /// Share of each new window score in the smoothed score (1 = no smoothing).
    pub smoothing: f32,
}

impl Default for Scoring {
    fn default() -> Self {
        Scoring {
            anger_model: PathBuf::from("../models/anger.toml"),
            // 0.7 reacts within about 3 s of sustained anger; with 0.5 it took 5.5 s
            // on the angry fixture, for one fewer happy false transfer in 14 calls.
            smoothing: 0.7,
        }
    }
}

/// Where `voicegate serve` takes calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipSettings {
    /// UDP and TCP address for SIP.
    pub listen: SocketAddr,
    /// The address put in Via, Contact and SDP when `listen` is a wildcard.
    pub advertise: Option<IpAddr>,
    /// The user part of our Contact URI.
    pub user: String,
    /// Seconds of 180 Ringing before the 200 OK.
    pub ring_s: f64,
    /// Register with a trunk or registrar (optional).
    pub register: Option<RegisterSettings>,
    /// What Server and User-Agent headers say; empty sends neither. No
    /// version by default: it tells a scanner which bugs to try.
    pub product: String,
    /// Calls held at once; a new INVITE past it gets 503 with Retry-After.
    pub max_calls: usize,
}

/// `[sip.register]`: keep voicegate registered so the trunk sends it calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterSettings {
    /// The registrar's SIP URI, e.g. `sip:trunk.example.com` or `sip:192.0.2.5:5060`.
    pub registrar: String,
    pub user: String,
    pub password: String,
    /// Seconds to ask for.
    #[serde(default = "default_register_expires")]
    pub expires: u32,
}

fn default_register_expires() -> u32 {
    3600
}

impl Default for SipSettings {
    fn default() -> Self {
        SipSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            advertise: None,
            user: "ivr".into(),
            ring_s: 0.0,
            register: None,
            product: crate::sip::PRODUCT.to_string(),
            max_calls: crate::sip::DEFAULT_MAX_CALLS,
        }
    }
}

/// Media sockets of live calls.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpSettings {
    /// Local address RTP sockets bind to.
    pub address: IpAddr,
    /// Inclusive range of UDP ports; each call takes one even port.
    pub ports: [u16; 2],
    /// Seconds without a packet from the caller before hanging up.
    pub inactivity_s: f64,
    /// Packets the jitter buffer holds before playout.
    pub jitter_packets: usize,
}

impl Default for RtpSettings {
    fn default() -> Self {
        RtpSettings {
            address: IpAddr::from([127, 0, 0, 1]),
            ports: [20000, 20999],
            inactivity_s: 30.0,
            jitter_packets: 3,
        }
    }
}

/// How a transfer is carried out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferSettings {
    /// Played when no agent can be reached; the gateway then keeps trying.
    pub sorry_prompt: String,
    /// Seconds between attempts to reach an agent for a queued caller.
    pub retry_s: f64,
}

impl Default for TransferSettings {
    fn default() -> Self {
        TransferSettings {
            sorry_prompt: "agents_busy".into(),
            retry_s: 15.0,
        }
    }
}

impl GatewayConfig {
    /// Reads and validates a gateway.toml.
    pub fn load(path: &Path) -> Result<GatewayConfig, ConfigError> {
        let text = read_text(
            path,
            "configuration",
            "check the path, or omit --config to use the built-in defaults",
        )?;
        GatewayConfig::from_text(&text, path)
    }

    /// A gateway.toml's text; `path` names it in errors and relative paths
    /// resolve against its directory.
    pub fn from_text(text: &str, path: &Path) -> Result<GatewayConfig, ConfigError> {
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_path_buf();
        GatewayConfig::parse(text, path, base_dir)
    }

    /// The configuration built into the binary.
    pub fn embedded() -> GatewayConfig {
        let path = Path::new(DEFAULT_CONFIG_PATH);
        GatewayConfig::parse(EMBEDDED_CONFIG, path, PathBuf::from("sip-config"))
            .expect("the embedded gateway.toml is checked by the test suite")
    }

    /// `--config` if given; else `sip-config/gateway.toml` in the working
    /// directory if present; else the embedded defaults.
    pub fn discover(explicit: Option<&Path>) -> Result<GatewayConfig, ConfigError> {
        match explicit {
            Some(path) => GatewayConfig::load(path),
            None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
                GatewayConfig::load(Path::new(DEFAULT_CONFIG_PATH))
            }
            None => Ok(GatewayConfig::embedded()),
        }
    }

    fn parse(text: &str, path: &Path, base_dir: PathBuf) -> Result<GatewayConfig, ConfigError> {
        let mut config: GatewayConfig =
            toml::from_str(text).map_err(|error| FileError::toml(path, text, &error))?;
        config.base_dir = base_dir;
        config.source = path.to_path_buf();
        config.text = text.to_string();
        config.validate(text)?;
        Ok(config)
    }

    fn validate(&self, text: &str) -> Result<(), ConfigError> {
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
        if !(self.scoring.smoothing > 0.0 && self.scoring.smoothing <= 1.0) {
            return Err(invalid(
                "scoring",
                "smoothing",
                "scoring.smoothing must be in (0, 1]: the share of each new score".into(),
            ));
        }
        let sip = &self.sip;
        if !(sip.ring_s >= 0.0 && sip.ring_s <= 60.0) {
            return Err(invalid(
                "sip",
                "ring_s",
                "sip.ring_s must be between 0 and 60 seconds".into(),
            ));
        }
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
        if !(1..=100_000).contains(&sip.max_calls) {
            return Err(invalid(
                "sip",
                "max_calls",
                "sip.max_calls must be between 1 and 100000".into(),
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
            if !(60..=86_400).contains(&register.expires) {
                return Err(invalid(
                    "sip.register",
                    "expires",
                    "sip.register.expires must be between 60 and 86400 seconds".into(),
                ));
            }
        }
        let [low, high] = self.rtp.ports;
        if low > high || low == 0 {
            return Err(invalid("rtp", "ports", format!("rtp.ports [{low}, {high}] is not a range: give [LOW, HIGH] with 0 < LOW <= HIGH")));
        }
        if !(self.rtp.inactivity_s > 0.0 && self.rtp.inactivity_s <= 3600.0) {
            return Err(invalid(
                "rtp",
                "inactivity_s",
                "rtp.inactivity_s must be above 0 and at most 3600 seconds".into(),
            ));
        }
        if !(self.transfer.retry_s >= 1.0 && self.transfer.retry_s <= 3600.0) {
            return Err(invalid(
                "transfer",
                "retry_s",
                "transfer.retry_s must be between 1 and 3600 seconds".into(),
            ));
        }
        let policy = &self.policy;
        let checks: [(&str, bool, &str); 7] = [
            (
                "anger_threshold",
                (0.0..=100.0).contains(&policy.anger_threshold),
                "must be within 0..=100",
            ),
            (
                "anger_sustain",
                policy.anger_sustain >= 1,
                "must be at least 1",
            ),
            (
                "human_repeats",
                policy.human_repeats >= 1,
                "must be at least 1",
            ),
            ("max_hops", policy.max_hops >= 1, "must be at least 1"),
            (
                "max_node_visits",
                policy.max_node_visits >= 1,
                "must be at least 1",
            ),
            (
                "max_wait_s",
                seconds_ok(policy.max_wait_s),
                "must be a number of seconds above 0, at most 86400",
            ),
            (
                "no_input_s",
                seconds_ok(policy.no_input_s),
                "must be a number of seconds above 0, at most 86400",
            ),
        ];
        for (key, ok, rule) in checks {
            if !ok {
                return Err(invalid("policy", key, format!("policy.{key} {rule}")));
            }
        }
        Ok(())
    }

    /// Each queue's Refer-To URI, by queue name.
    pub fn queue_uris(&self) -> HashMap<String, String> {
        self.queues
            .iter()
            .map(|(name, queue)| (name.clone(), queue.uri.clone()))
            .collect()
    }

    /// The engine's share of the configuration.
    pub fn engine_config(&self) -> Arc<EngineConfig> {
        Arc::new(EngineConfig {
            policy: self.policy.clone(),
            routing: self.routing.clone(),
            vip_callers: self.vip.callers.iter().cloned().collect::<HashSet<_>>(),
        })
    }

    pub fn menu_path(&self) -> PathBuf {
        self.base_dir.join(&self.menu.file)
    }

    /// The anger model's manifest. The built-in configuration also finds the
    /// shipped `models/anger.toml` beside the executable, so it runs anywhere.
    pub fn anger_model_path(&self) -> PathBuf {
        self.shipped_or_configured(&self.scoring.anger_model, "models/anger.toml")
    }

    fn shipped_or_configured(&self, configured: &Path, shipped: &str) -> PathBuf {
        let configured = self.base_dir.join(configured);
        if self.is_embedded() && !configured.is_file() {
            if let Some(shipped) = crate::paths::find_shipped(shipped) {
                return shipped;
            }
        }
        configured
    }

    /// The keyword model's manifest (found beside the executable, like the
    /// anger model's, for the built-in configuration).
    pub fn keyword_model_path(&self) -> PathBuf {
        self.shipped_or_configured(&self.keywords.model, "models/kws.toml")
    }

    /// Loads the keyword model and checks that voicegate can hear every word
    /// the configuration acts on: a word without a class in the model would
    /// otherwise be silently never heard.
    pub fn load_keyword_model(&self) -> Result<KeywordModel, ConfigError> {
        let path = self.keyword_model_path();
        let model = WindowModel::load(&path)?;
        let classes: Vec<String> = model
            .manifest()
            .classes
            .iter()
            .map(|c| normalize_phrase(c))
            .collect();
        for word in &self.keywords.words {
            if !classes.contains(&normalize_phrase(word)) {
                return Err(self.invalid_at("keywords", "words", format!(
                    "keywords.words has {word:?}, which the keyword model {} has no class for: remove it, or retrain the model with it (tools/train/train_kws.sh)",
                    path.display()
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
        let escalation = acted_on
            .iter()
            .flat_map(|(_, words)| words.iter().cloned())
            .collect();
        Ok(KeywordModel::new(
            model,
            self.keywords.words.clone(),
            escalation,
        )?)
    }

    fn invalid_at(&self, section: &str, key: &str, message: String) -> ConfigError {
        FileError::invalid(&self.source, line_of_key(&self.text, section, key), message).into()
    }

    pub fn prompts_dir(&self) -> PathBuf {
        self.base_dir.join(&self.menu.prompts)
    }

    /// How a menu is checked against this configuration.
    pub fn check_options(&self, check_prompt_files: bool) -> CheckOptions {
        CheckOptions {
            max_hops: self.policy.max_hops,
            prompts_dir: check_prompt_files.then(|| self.prompts_dir()),
            queues: Some(self.queues.keys().cloned().collect()),
        }
    }

    /// The menu named by this configuration (the embedded one for the embedded
    /// configuration), parsed and checked.
    pub fn load_menu(&self) -> Result<Arc<Menu>, ConfigError> {
        let path = self.menu_path();
        let (menu, check_files) = if self.is_embedded() && !path.is_file() {
            (menu::parse_menu(EMBEDDED_MENU, &path)?, false)
        } else {
            (menu::load_menu(&path)?, self.prompts_dir().is_dir())
        };
        checked_menu(menu, &path, &self.check_options(check_files))
    }

    fn is_embedded(&self) -> bool {
        self.source == Path::new(DEFAULT_CONFIG_PATH) && self.base_dir == Path::new("sip-config")
    }
}

/// The menu if it has no problems, else the first problem as an error.
pub fn checked_menu(
    menu: Menu,
    path: &Path,
    options: &CheckOptions,
) -> Result<Arc<Menu>, ConfigError> {
    let problems = menu::check(&menu, options);
    match problems.into_iter().next() {
        None => Ok(Arc::new(menu)),
        Some(problem) => Err(FileError::invalid(
            path,
            problem.line,
            format!(
                "{}: {} (run `voicegate menu check {}` for every problem)",
                problem.kind.as_str(),
                problem.message,
                path.display()
            ),
        )
        .into()),
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
