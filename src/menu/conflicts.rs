//! Legacy menus often offer one spoken phrase twice at a node ("mortgage"
//! for rates and for applications). Before flattening, each such conflict is
//! resolved the same way every time: the phrase stays on the first option
//! that has it, and each later option says the phrase with the name of where
//! it leads ("mortgage apply"), so a caller can still reach both by voice.

use std::collections::HashSet;

use super::{normalize_phrase, Menu, MenuOption, Target};

/// One phrase that two options of a node shared, and how it was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseConflict {
    pub node: String,
    pub phrase: String,
    /// The option keeping the phrase, and the one given a new phrase.
    pub kept_by: String,
    pub renamed: String,
    pub new_phrase: String,
}

impl PhraseConflict {
    /// One line for the flatten report.
    pub fn describe(&self) -> String {
        format!(
            "node {:?}: {:?} kept on {}; {} now says {:?}",
            self.node, self.phrase, self.kept_by, self.renamed, self.new_phrase
        )
    }
}

/// `menu` with every phrase used once per node, and what was changed.
pub fn resolve_phrase_conflicts(menu: &Menu) -> (Menu, Vec<PhraseConflict>) {
    let mut resolved = menu.clone();
    let mut conflicts = Vec::new();
    for node in &mut resolved.nodes {
        let mut owners: Vec<(String, usize)> = Vec::new();
        let mut used: HashSet<String> = node
            .options
            .iter()
            .flat_map(|option| option.say.iter().map(|p| normalize_phrase(p)))
            .collect();
        for index in 0..node.options.len() {
            for slot in 0..node.options[index].say.len() {
                let phrase = node.options[index].say[slot].clone();
                let normal = normalize_phrase(&phrase);
                let Some(&(_, owner)) = owners.iter().find(|(p, _)| *p == normal) else {
                    owners.push((normal, index));
                    continue;
                };
                let new_phrase = distinct_phrase(&phrase, &node.options[index], &mut used);
                conflicts.push(PhraseConflict {
                    node: node.name.clone(),
                    phrase,
                    kept_by: option_name(&node.options[owner]),
                    renamed: option_name(&node.options[index]),
                    new_phrase: new_phrase.clone(),
                });
                node.options[index].say[slot] = new_phrase;
            }
        }
    }
    (resolved, conflicts)
}

/// The phrase followed by the words of the option's target, unused at the node.
fn distinct_phrase(phrase: &str, option: &MenuOption, used: &mut HashSet<String>) -> String {
    let target = match &option.target {
        Target::Goto(node) => node.clone(),
        Target::Action(action) => action.to_string(),
    };
    let words = target
        .rsplit(':')
        .next()
        .unwrap_or(&target)
        .replace(['_', '-'], " ");
    let base = if normalize_phrase(&words).contains(&normalize_phrase(phrase)) {
        words
    } else {
        format!("{phrase} {words}")
    };
    let mut candidate = base.clone();
    let mut n = 2;
    while !used.insert(normalize_phrase(&candidate)) {
        candidate = format!("{base} {n}");
        n += 1;
    }
    candidate
}

fn option_name(option: &MenuOption) -> String {
    let target = match &option.target {
        Target::Goto(node) => format!("goto {node}"),
        Target::Action(action) => action.to_string(),
    };
    match option.key {
        Some(key) => format!("key {key} ({target})"),
        None => format!("the spoken option ({target})"),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::menu::{check, parse_menu, CheckOptions, ProblemKind};

    const AMBIGUOUS: &str = r#"
entry = "main"
[nodes.main]
prompt = "main"
options = [
  { key = "1", say = ["mortgage", "loans"], goto = "loans" },
  { key = "2", say = ["Mortgage"], action = "flow:mortgage_apply" },
  { key = "3", say = ["mortgage", "mortgage apply"], action = "transfer:agents" },
]
[nodes.loans]
prompt = "loans"
options = [ { key = "1", say = ["rates"], action = "flow:loan_rates" } ]
"#;

    #[test]
    fn a_shared_phrase_stays_on_the_first_option_and_the_others_say_where_they_go() {
        let menu = parse_menu(AMBIGUOUS, Path::new("m.toml")).unwrap();
        let (resolved, conflicts) = resolve_phrase_conflicts(&menu);
        let main = resolved.node("main").unwrap();
        assert_eq!(main.options[0].say, ["mortgage", "loans"]);
        assert_eq!(main.options[1].say, ["mortgage apply 2"]);
        assert_eq!(main.options[2].say, ["mortgage agents", "mortgage apply"]);
        assert_eq!(conflicts.len(), 2);
        assert_eq!(
            conflicts[0].describe(),
            "node \"main\": \"Mortgage\" kept on key 1 (goto loans); key 2 (flow:mortgage_apply) now says \"mortgage apply 2\""
        );
        let problems = check(&resolved, &CheckOptions::default());
        assert!(
            !problems
                .iter()
                .any(|p| p.kind == ProblemKind::DuplicatePhrase),
            "{problems:?}"
        );
        let (again, _) = resolve_phrase_conflicts(&menu);
        assert_eq!(again, resolved, "the same resolution every time");
    }
}
