//! Reading menu TOML into a [`Menu`], with the line of every node and option so
//! that problems can name where they are.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::{Menu, MenuAction, MenuOption, Node, Target};
use crate::source::{line_of, read_text};

/// Why a menu file could not be read.
pub type MenuError = crate::source::FileError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMenu {
    entry: Spanned<String>,
    max_hops: Option<u32>,
    #[serde(default)]
    nodes: BTreeMap<String, Spanned<RawNode>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    prompt: Option<String>,
    text: Option<String>,
    #[serde(default)]
    options: Vec<Spanned<RawOption>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    key: Option<String>,
    #[serde(default)]
    say: Vec<String>,
    goto: Option<String>,
    action: Option<String>,
}

/// Reads and parses a menu file.
pub fn load_menu(path: &Path) -> Result<Menu, MenuError> {
    let text = read_text(path, "menu file", "check the path")?;
    parse_menu(&text, path)
}

/// Parses menu TOML; `path` only names the source in errors.
pub fn parse_menu(text: &str, path: &Path) -> Result<Menu, MenuError> {
    let invalid = |line: usize, message: String| MenuError::invalid(path, line, message);
    let raw: RawMenu = toml::from_str(text).map_err(|error| MenuError::toml(path, text, &error))?;
    let entry_line = line_of(text, raw.entry.span().start);
    let mut nodes = Vec::with_capacity(raw.nodes.len());
    for (name, raw_node) in raw.nodes {
        let line = line_of(text, raw_node.span().start);
        let raw_node = raw_node.into_inner();
        let options = raw_node
            .options
            .into_iter()
            .map(|option| {
                let line = line_of(text, option.span().start);
                build_option(option.into_inner(), line).map_err(|message| invalid(line, message))
            })
            .collect::<Result<Vec<_>, _>>()?;
        nodes.push(Node {
            name,
            prompt: raw_node.prompt.unwrap_or_default(),
            text: raw_node.text,
            options,
            line,
        });
    }
    // Keep the author's order: the outline and flatten output follow it.
    nodes.sort_by_key(|node| node.line);
    Ok(Menu {
        entry: raw.entry.into_inner(),
        entry_line,
        max_hops: raw.max_hops,
        nodes,
    })
}

fn build_option(raw: RawOption, line: usize) -> Result<MenuOption, String> {
    let key = raw.key.as_deref().map(parse_key).transpose()?;
    if key.is_none() && raw.say.is_empty() {
        return Err(
            "option has neither `key` nor `say`: give it a DTMF key or spoken phrases".into(),
        );
    }
    if raw.say.iter().any(|phrase| phrase.trim().is_empty()) {
        return Err("empty phrase in `say`: remove it".into());
    }
    let target = match (raw.goto, raw.action) {
        (Some(goto), None) => Target::Goto(goto),
        (None, Some(action)) => {
            Target::Action(MenuAction::parse(&action).ok_or_else(|| {
                format!("action {action:?} is not `transfer:QUEUE` or `flow:NAME`")
            })?)
        }
        (Some(_), Some(_)) => {
            return Err("option has both `goto` and `action`: keep one".into());
        }
        (None, None) => {
            return Err("option has neither `goto` nor `action`: add one".into());
        }
    };
    Ok(MenuOption {
        key,
        say: raw.say,
        target,
        line,
    })
}

fn parse_key(text: &str) -> Result<char, String> {
    crate::dtmf::dtmf_key(text)
        .ok_or_else(|| format!("key {text:?} is not one DTMF key: use one of 0-9, *, #, A-D"))
}
