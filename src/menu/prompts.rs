//! What each prompt says: the node's `text`, or one made from its options, so
//! that prompts can be recorded or rendered with text-to-speech.

use super::INVALID_OPTION_PROMPT;
use super::{Menu, MenuAction, MenuOption, Target};

/// Every prompt the menu plays, with what it should say, in menu order.
pub fn prompt_texts(menu: &Menu) -> Vec<(String, String)> {
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut add = |name: &str, text: String| {
        if !texts.iter().any(|(known, _)| known == name) {
            texts.push((name.to_string(), text));
        }
    };
    for node in &menu.nodes {
        let text = node
            .text
            .clone()
            .unwrap_or_else(|| prompt_text(menu, &node.options));
        add(&node.prompt, text);
    }
    for action in menu.actions() {
        if let MenuAction::Flow(name) = action {
            add(
                name,
                format!("This is the {} service.", name.replace(['_', '-'], " ")),
            );
        }
    }
    add(
        INVALID_OPTION_PROMPT,
        "Sorry, that is not one of the options.".to_string(),
    );
    texts
}

/// What the new prompt should say, from the options it offers.
pub fn prompt_text(menu: &Menu, options: &[MenuOption]) -> String {
    let mut sentences: Vec<String> = options
        .iter()
        .filter_map(|option| {
            let key = option.key?;
            Some(format!("For {}, press {key}.", option_label(menu, option)))
        })
        .collect();
    if options.iter().any(|option| !option.say.is_empty()) {
        sentences.push("Or just say what you need.".to_string());
    }
    sentences.join(" ")
}

fn option_label(menu: &Menu, option: &MenuOption) -> String {
    if let Some(phrase) = option.say.first() {
        return phrase.clone();
    }
    let name = match &option.target {
        Target::Action(MenuAction::Flow(name) | MenuAction::Transfer(name)) => name.as_str(),
        Target::Goto(node) => menu.node(node).map_or(node.as_str(), |n| n.name.as_str()),
    };
    name.replace(['_', '-'], " ")
}
