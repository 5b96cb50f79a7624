//! Writing a [`Menu`] back as readable TOML, one inline table per option.

use std::fmt::Write;

use super::{Menu, Target};

/// The menu as TOML in the format [`super::parse_menu`] reads.
pub fn to_toml(menu: &Menu) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "entry = {}", quote(&menu.entry));
    if let Some(max_hops) = menu.max_hops {
        let _ = writeln!(out, "max_hops = {max_hops}");
    }
    for node in &menu.nodes {
        let _ = writeln!(out, "\n[nodes.{}]", key(&node.name));
        let _ = writeln!(out, "prompt = {}", quote(&node.prompt));
        if let Some(text) = &node.text {
            let _ = writeln!(out, "text = {}", quote(text));
        }
        let _ = writeln!(out, "options = [");
        for option in &node.options {
            let mut fields = Vec::new();
            if let Some(key) = option.key {
                fields.push(format!("key = {}", quote(&key.to_string())));
            }
            if !option.say.is_empty() {
                let phrases: Vec<String> = option.say.iter().map(|p| quote(p)).collect();
                fields.push(format!("say = [{}]", phrases.join(", ")));
            }
            fields.push(match &option.target {
                Target::Goto(next) => format!("goto = {}", quote(next)),
                Target::Action(action) => format!("action = {}", quote(&action.to_string())),
            });
            let _ = writeln!(out, "  {{ {} }},", fields.join(", "));
        }
        let _ = writeln!(out, "]");
    }
    out
}

/// A TOML basic string with the escapes TOML needs.
fn quote(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

/// A table key: bare where TOML allows it, quoted otherwise.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        name.to_string()
    } else {
        quote(name)
    }
}
