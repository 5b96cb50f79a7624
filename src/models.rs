//! The models a configuration names, loaded and checked against it: the
//! wiring between `config` (which knows only paths and words) and `infer`
//! (which knows only models). Serve, replay and the benchmarks load through
//! here.

use crate::config::{ConfigError, GatewayConfig};
use crate::infer::{KeywordModel, WindowModel};

/// The anger model of `config`'s `[scoring] anger_model`.
pub fn anger_model(config: &GatewayConfig) -> Result<WindowModel, ConfigError> {
    Ok(WindowModel::load(&config.anger_model_path())?)
}

/// The keyword model of `config`'s `[keywords] model`, listening for its
/// words; every word the configuration acts on must be a class of the model.
pub fn keyword_model(config: &GatewayConfig) -> Result<KeywordModel, ConfigError> {
    let path = config.keyword_model_path();
    let model = WindowModel::load(&path)?;
    let escalation = config.check_keyword_words(&model.manifest().classes, &path)?;
    Ok(KeywordModel::new(
        model,
        config.keywords.words.clone(),
        escalation,
    )?)
}
