//! `voicegate menu check`: every problem in a menu tree, each with its line and
//! the path of choices that leads to it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::PathBuf;

use super::{normalize_phrase, Menu, MenuAction, MenuOption, Node, Target};

/// What the tree is checked against besides itself.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// The policy's hop limit; a menu's own `max_hops` overrides it.
    pub max_hops: u32,
    /// Where prompt files live; `None` skips the file check (not the presence of `prompt`).
    pub prompts_dir: Option<PathBuf>,
    /// Queue names from gateway.toml; `None` skips the check of transfer targets.
    pub queues: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    Empty,
    UnknownEntry,
    UnknownGoto,
    UnknownQueue,
    DuplicateKey,
    DuplicatePhrase,
    MissingPrompt,
    DeadEnd,
    Unreachable,
    Cycle,
    TooDeep,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Empty => "empty menu",
            ProblemKind::UnknownEntry => "unknown entry",
            ProblemKind::UnknownGoto => "unknown goto",
            ProblemKind::UnknownQueue => "unknown queue",
            ProblemKind::DuplicateKey => "duplicate key",
            ProblemKind::DuplicatePhrase => "duplicate phrase",
            ProblemKind::MissingPrompt => "missing prompt",
            ProblemKind::DeadEnd => "dead end",
            ProblemKind::Unreachable => "unreachable node",
            ProblemKind::Cycle => "cycle",
            ProblemKind::TooDeep => "too deep",
        }
    }
}

/// One problem: where, what, and the choices that lead there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: usize,
    pub kind: ProblemKind,
    pub message: String,
    /// Choices from the entry node to the offending place; empty where none leads there.
    pub path: Vec<String>,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.line, self.kind.as_str(), self.message)?;
        if !self.path.is_empty() {
            write!(f, " (path: {})", self.path.join(" → "))?;
        }
        Ok(())
    }
}

/// Every problem in the tree; empty means valid.
pub fn check(menu: &Menu, options: &CheckOptions) -> Vec<Problem> {
    let Some(entry) = menu.node(&menu.entry) else {
        return vec![entry_problem(menu)];
    };
    let mut problems = Vec::new();
    for node in &menu.nodes {
        check_node(menu, node, options, &mut problems);
    }
    if let Some(dir) = &options.prompts_dir {
        check_played_prompts(menu, dir, &mut problems);
    }
    let routes = shortest_routes(menu, entry);
    check_reachability(menu, &routes, &mut problems);
    check_cycles(menu, &routes, &mut problems);
    check_depth(menu, &routes, options, &mut problems);
    problems.sort_by_key(|problem| problem.line);
    problems
}

fn entry_problem(menu: &Menu) -> Problem {
    let (kind, message) = if menu.nodes.is_empty() {
        (
            ProblemKind::Empty,
            "the menu has no nodes: add at least [nodes.<entry>] with a prompt and options"
                .to_string(),
        )
    } else {
        (
            ProblemKind::UnknownEntry,
            format!(
                "entry {:?} is not a node: use one of {}",
                menu.entry,
                node_names(menu)
            ),
        )
    };
    Problem {
        line: menu.entry_line.max(1),
        kind,
        message,
        path: Vec::new(),
    }
}

fn node_names(menu: &Menu) -> String {
    let names: Vec<&str> = menu.nodes.iter().map(|node| node.name.as_str()).collect();
    names.join(", ")
}

fn check_node(menu: &Menu, node: &Node, options: &CheckOptions, problems: &mut Vec<Problem>) {
    let mut problem = |line: usize, kind: ProblemKind, message: String| {
        problems.push(Problem {
            line,
            kind,
            message,
            path: Vec::new(),
        })
    };
    check_prompt(node, options, &mut problem);
    if node.options.is_empty() {
        problem(
            node.line,
            ProblemKind::DeadEnd,
            format!(
                "node {:?} has no options: add options or remove the node",
                node.name
            ),
        );
    }
    let mut keys = HashSet::new();
    let mut phrases = HashSet::new();
    for option in &node.options {
        if let Some(key) = option.key.filter(|key| !keys.insert(*key)) {
            problem(
                option.line,
                ProblemKind::DuplicateKey,
                format!(
                    "key {key:?} is used twice in node {:?}: give each option its own key",
                    node.name
                ),
            );
        }
        for phrase in &option.say {
            if !phrases.insert(normalize_phrase(phrase)) {
                problem(
                    option.line,
                    ProblemKind::DuplicatePhrase,
                    format!("phrase {phrase:?} is used twice in node {:?}: a caller saying it would be ambiguous", node.name),
                );
            }
        }
        check_target(menu, node, option, options, &mut problem);
    }
}

fn check_prompt(
    node: &Node,
    options: &CheckOptions,
    problem: &mut impl FnMut(usize, ProblemKind, String),
) {
    if node.prompt.trim().is_empty() {
        problem(
            node.line,
            ProblemKind::MissingPrompt,
            format!(
                "node {:?} has no `prompt`: name a prompt file from the prompts directory",
                node.name
            ),
        );
        return;
    }
    if let Some(dir) = &options.prompts_dir {
        if !prompt_exists(dir, &node.prompt) {
            problem(
                node.line,
                ProblemKind::MissingPrompt,
                format!(
                    "prompt {:?} of node {:?} has no audio file in {}: add {}.wav there",
                    node.prompt,
                    node.name,
                    dir.display(),
                    node.prompt
                ),
            );
        }
    }
}

/// Flows play the prompt of their name, and the engine plays the
/// invalid-option prompt; their files must exist too.
fn check_played_prompts(menu: &Menu, dir: &std::path::Path, problems: &mut Vec<Problem>) {
    let mut reported = HashSet::new();
    for (node, option) in menu
        .nodes
        .iter()
        .flat_map(|node| node.options.iter().map(move |o| (node, o)))
    {
        let Target::Action(MenuAction::Flow(name)) = &option.target else {
            continue;
        };
        if reported.insert(name.clone()) && !prompt_exists(dir, name) {
            problems.push(Problem {
                line: option.line,
                kind: ProblemKind::MissingPrompt,
                message: format!("flow {name:?} in node {:?} plays prompt {name:?}, which has no audio file in {}: add {name}.wav there", node.name, dir.display()),
                path: Vec::new(),
            });
        }
    }
    if !prompt_exists(dir, super::INVALID_OPTION_PROMPT) {
        problems.push(Problem {
            line: menu.entry_line.max(1),
            kind: ProblemKind::MissingPrompt,
            message: format!(
                "the gateway plays {0:?} after an invalid choice, and {1} has no {0}.wav: add it",
                super::INVALID_OPTION_PROMPT,
                dir.display()
            ),
            path: Vec::new(),
        });
    }
}

/// True when `dir` holds `<prompt>.<any extension>`.
pub fn prompt_exists(dir: &std::path::Path, prompt: &str) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let path = entry.path();
        path.is_file() && path.file_stem().and_then(|stem| stem.to_str()) == Some(prompt)
    })
}

fn check_target(
    menu: &Menu,
    node: &Node,
    option: &MenuOption,
    options: &CheckOptions,
    problem: &mut impl FnMut(usize, ProblemKind, String),
) {
    match &option.target {
        Target::Goto(next) if menu.node(next).is_none() => problem(
            option.line,
            ProblemKind::UnknownGoto,
            format!(
                "node {:?} goes to {next:?}, which is not a node: use one of {}",
                node.name,
                node_names(menu)
            ),
        ),
        Target::Action(MenuAction::Transfer(queue)) => {
            if let Some(queues) = options.queues.as_ref().filter(|q| !q.contains(queue)) {
                problem(
                    option.line,
                    ProblemKind::UnknownQueue,
                    format!(
                        "transfer to {queue:?}, which is not in [queues] of gateway.toml: use one of {}",
                        queues.join(", ")
                    ),
                );
            }
        }
        _ => {}
    }
}

/// Shortest route (fewest choices) from the entry to each reachable node, as
/// the list of (node, option) choices taken.
struct Routes<'m> {
    to: HashMap<&'m str, Vec<(&'m Node, &'m MenuOption)>>,
}

impl Routes<'_> {
    fn path_to(&self, node: &str) -> Vec<String> {
        self.to
            .get(node)
            .map(|route| {
                route
                    .iter()
                    .map(|(from, option)| format!("{} {}", from.name, describe_choice(option)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn shortest_routes<'m>(menu: &'m Menu, entry: &'m Node) -> Routes<'m> {
    let mut to: HashMap<&str, Vec<(&Node, &MenuOption)>> = HashMap::new();
    to.insert(entry.name.as_str(), Vec::new());
    let mut queue = VecDeque::from([entry]);
    while let Some(node) = queue.pop_front() {
        for option in &node.options {
            let Target::Goto(next) = &option.target else {
                continue;
            };
            let Some(next_node) = menu.node(next) else {
                continue;
            };
            if to.contains_key(next.as_str()) {
                continue;
            }
            let mut route = to[node.name.as_str()].clone();
            route.push((node, option));
            to.insert(next_node.name.as_str(), route);
            queue.push_back(next_node);
        }
    }
    Routes { to }
}

/// How a choice reads in a path: its key, or the first phrase.
pub fn describe_choice(option: &MenuOption) -> String {
    match (option.key, option.say.first()) {
        (Some(key), _) => format!("[{key}]"),
        (None, Some(phrase)) => format!("[\"{phrase}\"]"),
        (None, None) => "[?]".to_string(),
    }
}

fn check_reachability(menu: &Menu, routes: &Routes, problems: &mut Vec<Problem>) {
    for node in &menu.nodes {
        if !routes.to.contains_key(node.name.as_str()) {
            problems.push(Problem {
                line: node.line,
                kind: ProblemKind::Unreachable,
                message: format!(
                    "node {:?} cannot be reached from entry {:?}: link it with a goto or remove it",
                    node.name, menu.entry
                ),
                path: Vec::new(),
            });
        }
    }
}

/// Reports each option that leads back to a node on the way to it (a back
/// edge of a depth-first walk from every node).
fn check_cycles(menu: &Menu, routes: &Routes, problems: &mut Vec<Problem>) {
    let mut finished: HashSet<&str> = HashSet::new();
    for start in &menu.nodes {
        let mut on_path = Vec::new();
        walk_for_cycles(menu, start, &mut on_path, &mut finished, routes, problems);
    }
}

fn walk_for_cycles<'m>(
    menu: &'m Menu,
    node: &'m Node,
    on_path: &mut Vec<&'m str>,
    finished: &mut HashSet<&'m str>,
    routes: &Routes,
    problems: &mut Vec<Problem>,
) {
    if finished.contains(node.name.as_str()) {
        return;
    }
    on_path.push(&node.name);
    for option in &node.options {
        let Target::Goto(next) = &option.target else {
            continue;
        };
        let Some(next_node) = menu.node(next) else {
            continue;
        };
        if on_path.contains(&next.as_str()) {
            let mut path = routes.path_to(&node.name);
            path.push(format!(
                "{} {} → {next}",
                node.name,
                describe_choice(option)
            ));
            problems.push(Problem {
                line: option.line,
                kind: ProblemKind::Cycle,
                message: format!(
                    "node {:?} leads back to {next:?}: a caller could go round forever; point it at an action or a deeper node",
                    node.name
                ),
                path,
            });
        } else {
            walk_for_cycles(menu, next_node, on_path, finished, routes, problems);
        }
    }
    on_path.pop();
    finished.insert(&node.name);
}

fn check_depth(menu: &Menu, routes: &Routes, options: &CheckOptions, problems: &mut Vec<Problem>) {
    let max_hops = menu.max_hops.unwrap_or(options.max_hops);
    for node in &menu.nodes {
        let Some(route) = routes.to.get(node.name.as_str()) else {
            continue;
        };
        for option in &node.options {
            let Target::Action(action) = &option.target else {
                continue;
            };
            let hops = route.len() + 1;
            if hops > max_hops as usize {
                let mut path = routes.path_to(&node.name);
                path.push(format!(
                    "{} {} → {action}",
                    node.name,
                    describe_choice(option)
                ));
                problems.push(Problem {
                    line: option.line,
                    kind: ProblemKind::TooDeep,
                    message: format!(
                        "action {action} takes {hops} choices, more than max_hops = {max_hops}: run `voicegate menu flatten`, or add a spoken shortcut nearer the entry"
                    ),
                    path,
                });
            }
        }
    }
}
