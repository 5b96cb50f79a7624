//! `sip-config/gateway.toml`: policy thresholds, routing, queues, VIPs and the
//! menu to run. Unknown keys are errors; every error names file:line.

mod records;
mod sections;
mod validate;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

pub use records::{
    AlarmSettings, CrmSettings, HttpSettings, MetricsSettings, RecordingSettings, StoreSettings,
};
pub use sections::{
    KeywordSettings, MenuSettings, Queue, RegisterSettings, RtpSettings, Scoring, SipSettings,
    TransferSettings,
};

use crate::engine::{EngineConfig, Policy, Routing, Vip};
use crate::infer::InferError;
use crate::menu::{self, CheckOptions, Menu};
use crate::source::{read_text, FileError};

/// The sample configuration, built into the binary so that it runs with no files.
pub const EMBEDDED_CONFIG: &str = include_str!("../../sip-config/gateway.toml");
/// The menu the sample configuration names.
pub const EMBEDDED_MENU: &str = include_str!("../../sip-config/menus/main.toml");
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
    #[serde(default)]
    pub store: StoreSettings,
    #[serde(default)]
    pub recording: RecordingSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub alarms: AlarmSettings,
    #[serde(default)]
    pub crm: CrmSettings,
    #[serde(default)]
    pub http: HttpSettings,
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
