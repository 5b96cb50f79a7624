//! `voicegate menu flatten`: rebuilds a deep legacy tree so that every action is
//! within `max_hops` key presses, keeping the tree's own grouping where it can,
//! and adds spoken shortcuts from the entry node straight to deep actions.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::check::{check, CheckOptions, Problem, ProblemKind};
use super::conflicts::{resolve_phrase_conflicts, PhraseConflict};
use super::prompts::prompt_text;
use super::{normalize_phrase, Menu, MenuAction, MenuOption, Node, Target, KEYS_PER_NODE};

/// What flattening changed, for the admin.
#[derive(Debug, Clone, PartialEq)]
pub struct FlattenReport {
    pub actions: usize,
    pub nodes_before: usize,
    pub nodes_after: usize,
    /// Most choices (keys or speech) to the deepest action.
    pub depth_before: u32,
    pub depth_after: u32,
    /// Most key presses to the deepest action.
    pub key_presses_before: u32,
    pub key_presses_after: u32,
    /// Options that led back up the tree ("9 for the previous menu"); they are dropped.
    pub back_links_dropped: usize,
    /// Spoken shortcuts added to the entry node.
    pub shortcuts: usize,
    /// Phrases two options of a node shared, and how each was resolved.
    pub phrase_conflicts: Vec<PhraseConflict>,
}

/// An action of the input tree with the original nodes above it.
#[derive(Debug, Clone)]
struct Leaf {
    action: MenuAction,
    say: Vec<String>,
    /// Original node names from the entry (excluded) down to the node holding the action.
    ancestors: Vec<String>,
}

/// A group of leaves that becomes one option of an output node.
#[derive(Debug, Clone)]
struct Part {
    leaves: Vec<Leaf>,
    /// The original node this part comes from, which names the new node.
    origin: Option<String>,
    say: Vec<String>,
}

/// Flattens `legacy` to `max_hops`, first giving options of a node that
/// share a phrase distinct phrases. Fails with the input's problems if it is
/// broken in ways other than depth, back-links and shared phrases, or with a capacity problem
/// if the actions cannot fit in `max_hops` levels of nine keys.
pub fn flatten(legacy: &Menu, max_hops: u32) -> Result<(Menu, FlattenReport), Vec<Problem>> {
    let (resolved, phrase_conflicts) = resolve_phrase_conflicts(legacy);
    let menu = &resolved;
    let structural = structural_problems(menu);
    if !structural.is_empty() {
        return Err(structural);
    }
    let walk = collect_leaves(menu);
    let capacity = KEYS_PER_NODE.saturating_pow(max_hops);
    if max_hops == 0 || walk.leaves.len() > capacity {
        return Err(vec![Problem {
            line: menu.entry_line.max(1),
            kind: ProblemKind::TooDeep,
            message: format!(
                "{} distinct actions cannot fit in {max_hops} levels of {KEYS_PER_NODE} keys (at most {capacity}): raise --max-hops or merge actions",
                walk.leaves.len()
            ),
            path: Vec::new(),
        }]);
    }
    let mut builder = Builder {
        menu,
        labels: walk.labels,
        nodes: Vec::new(),
        names: HashSet::new(),
    };
    builder.names.insert(menu.entry.clone());
    builder.build(menu.entry.clone(), walk.leaves.clone(), 0, max_hops);
    let mut nodes = builder.nodes;
    let shortcuts = add_shortcuts(&mut nodes[0], &walk.leaves);
    let flat = Menu {
        entry: menu.entry.clone(),
        entry_line: 0,
        max_hops: Some(max_hops),
        nodes,
    };
    let report = FlattenReport {
        actions: walk.leaves.len(),
        nodes_before: menu.nodes.len(),
        nodes_after: flat.nodes.len(),
        depth_before: deepest_action(menu, false),
        depth_after: deepest_action(&flat, false),
        key_presses_before: deepest_action(menu, true),
        key_presses_after: deepest_action(&flat, true),
        back_links_dropped: walk.back_links,
        shortcuts,
        phrase_conflicts,
    };
    Ok((flat, report))
}

/// Problems flattening cannot repair: everything but depth and cycles.
fn structural_problems(menu: &Menu) -> Vec<Problem> {
    let options = CheckOptions {
        max_hops: u32::MAX,
        ..CheckOptions::default()
    };
    check(menu, &options)
        .into_iter()
        .filter(|problem| !matches!(problem.kind, ProblemKind::TooDeep | ProblemKind::Cycle))
        .collect()
}

struct Walk {
    leaves: Vec<Leaf>,
    /// Spoken phrases of the option that first led to each node.
    labels: HashMap<String, Vec<String>>,
    back_links: usize,
}

/// Depth-first walk in option order. Each action string keeps one place, its
/// shallowest occurrence (so "0 for an operator", repeated on every level,
/// stays at the top); the other occurrences only add their phrases.
fn collect_leaves(menu: &Menu) -> Walk {
    let mut walk = Walk {
        leaves: Vec::new(),
        labels: HashMap::new(),
        back_links: 0,
    };
    let places = shallowest_places(menu);
    let mut phrases: HashMap<&MenuAction, Vec<String>> = HashMap::new();
    for option in menu.nodes.iter().flat_map(|node| &node.options) {
        if let Target::Action(action) = &option.target {
            merge_phrases(phrases.entry(action).or_default(), &option.say);
        }
    }
    let mut visited = HashSet::from([menu.entry.clone()]);
    let mut ancestors = Vec::new();
    let mut place = |node: &Node, index: usize, action: &MenuAction, ancestors: &[String]| {
        if places.get(action) == Some(&(node.name.clone(), index)) {
            walk.leaves.push(Leaf {
                action: action.clone(),
                say: phrases[action].clone(),
                ancestors: ancestors.to_vec(),
            });
        }
    };
    visit(
        menu,
        &menu.entry,
        &mut ancestors,
        &mut visited,
        &mut place,
        &mut walk.labels,
        &mut walk.back_links,
    );
    walk
}

/// For each action, the (node, option index) nearest the entry.
fn shallowest_places(menu: &Menu) -> HashMap<MenuAction, (String, usize)> {
    let mut places = HashMap::new();
    let mut seen = HashSet::from([menu.entry.as_str()]);
    let mut queue = VecDeque::from([menu.entry.as_str()]);
    while let Some(name) = queue.pop_front() {
        let Some(node) = menu.node(name) else {
            continue;
        };
        for (index, option) in node.options.iter().enumerate() {
            match &option.target {
                Target::Action(action) => {
                    places
                        .entry(action.clone())
                        .or_insert_with(|| (node.name.clone(), index));
                }
                Target::Goto(next) => {
                    if seen.insert(next.as_str()) {
                        queue.push_back(next.as_str());
                    }
                }
            }
        }
    }
    places
}

fn visit(
    menu: &Menu,
    name: &str,
    ancestors: &mut Vec<String>,
    visited: &mut HashSet<String>,
    place: &mut impl FnMut(&Node, usize, &MenuAction, &[String]),
    labels: &mut HashMap<String, Vec<String>>,
    back_links: &mut usize,
) {
    let Some(node) = menu.node(name) else {
        return;
    };
    for (index, option) in node.options.iter().enumerate() {
        match &option.target {
            Target::Action(action) => place(node, index, action, ancestors),
            Target::Goto(next) if visited.contains(next) => *back_links += 1,
            Target::Goto(next) => {
                visited.insert(next.clone());
                labels.insert(next.clone(), option.say.clone());
                ancestors.push(next.clone());
                visit(menu, next, ancestors, visited, place, labels, back_links);
                ancestors.pop();
            }
        }
    }
}

fn merge_phrases(into: &mut Vec<String>, more: &[String]) {
    for phrase in more {
        if !into
            .iter()
            .any(|p| normalize_phrase(p) == normalize_phrase(phrase))
        {
            into.push(phrase.clone());
        }
    }
}

struct Builder<'m> {
    menu: &'m Menu,
    labels: HashMap<String, Vec<String>>,
    nodes: Vec<Node>,
    names: HashSet<String>,
}

impl Builder<'_> {
    /// Builds node `name` offering `leaves` within `hops_left` choices; `depth`
    /// is the index into the leaves' ancestors at which they are grouped.
    fn build(&mut self, name: String, leaves: Vec<Leaf>, depth: usize, hops_left: u32) {
        let index = self.nodes.len();
        self.nodes.push(Node {
            name: name.clone(),
            prompt: name.clone(),
            text: None,
            options: Vec::new(),
            line: 0,
        });
        let parts = if leaves.len() <= KEYS_PER_NODE {
            leaves.into_iter().map(single).collect()
        } else {
            partition(leaves, depth, hops_left, &self.labels)
        };
        let mut options = Vec::with_capacity(parts.len());
        for (position, part) in parts.into_iter().enumerate() {
            let key = char::from_digit(position as u32 + 1, 10);
            let (say, target) = if let [leaf] = part.leaves.as_slice() {
                (leaf.say.clone(), Target::Action(leaf.action.clone()))
            } else {
                let child = self.child_name(&name, &part, position + 1);
                self.build(child.clone(), part.leaves, depth, hops_left - 1);
                (part.say, Target::Goto(child))
            };
            options.push(MenuOption {
                key,
                say,
                target,
                line: 0,
            });
        }
        dedupe_phrases(&mut options);
        let node = &mut self.nodes[index];
        node.text = Some(prompt_text(self.menu, &options));
        node.options = options;
    }

    fn child_name(&mut self, parent: &str, part: &Part, position: usize) -> String {
        let preferred = part
            .origin
            .clone()
            .unwrap_or_else(|| format!("{parent}_{position}"));
        let mut name = preferred.clone();
        let mut suffix = 2;
        while !self.names.insert(name.clone()) {
            name = format!("{preferred}_{suffix}");
            suffix += 1;
        }
        name
    }
}

fn single(leaf: Leaf) -> Part {
    Part {
        say: leaf.say.clone(),
        leaves: vec![leaf],
        origin: None,
    }
}

/// Splits more than nine leaves into at most nine parts that each fit in the
/// hops left below, following the original tree's grouping where it can.
fn partition(
    leaves: Vec<Leaf>,
    depth: usize,
    hops_left: u32,
    labels: &HashMap<String, Vec<String>>,
) -> Vec<Part> {
    let capacity = KEYS_PER_NODE.pow(hops_left - 1);
    let parts = group_by_ancestor(&leaves, depth, labels);
    if parts.len() == 1 && parts[0].origin.is_some() {
        // A chain of single-child menus costs no hop here: look one level down.
        return partition(leaves, depth + 1, hops_left, labels);
    }
    let mut parts: Vec<Part> = parts
        .into_iter()
        .flat_map(|part| expand(part, depth + 1, capacity, labels))
        .collect();
    while parts.len() > KEYS_PER_NODE {
        if !merge_smallest_neighbours(&mut parts, capacity) {
            return chunk_evenly(leaves, capacity, None, Vec::new());
        }
    }
    parts
}

/// Replaces a part too big for the hops below by its own sub-groups (the
/// original tree's next level), or, where it has none, by even chunks.
fn expand(
    part: Part,
    depth: usize,
    capacity: usize,
    labels: &HashMap<String, Vec<String>>,
) -> Vec<Part> {
    if part.leaves.len() <= capacity {
        return vec![part];
    }
    let mut sub = group_by_ancestor(&part.leaves, depth, labels);
    if sub.len() == 1 && sub[0].origin.is_some() {
        let only = sub.remove(0);
        return expand(only, depth + 1, capacity, labels);
    }
    if sub.iter().all(|sub_part| sub_part.leaves.len() == 1) {
        return chunk_evenly(part.leaves, capacity, part.origin, part.say);
    }
    sub.into_iter()
        .flat_map(|sub_part| expand(sub_part, depth + 1, capacity, labels))
        .collect()
}

/// Consecutive leaves under the same original node at `depth` form one part;
/// leaves held directly at this level stand alone.
fn group_by_ancestor(
    leaves: &[Leaf],
    depth: usize,
    labels: &HashMap<String, Vec<String>>,
) -> Vec<Part> {
    let mut parts: Vec<Part> = Vec::new();
    for leaf in leaves {
        let ancestor = leaf.ancestors.get(depth);
        match (ancestor, parts.last_mut()) {
            (Some(name), Some(last)) if last.origin.as_ref() == Some(name) => {
                last.leaves.push(leaf.clone())
            }
            (Some(name), _) => parts.push(Part {
                leaves: vec![leaf.clone()],
                origin: Some(name.clone()),
                say: labels.get(name).cloned().unwrap_or_default(),
            }),
            (None, _) => parts.push(single(leaf.clone())),
        }
    }
    parts
}

/// Merges the adjacent pair with the fewest leaves; false if no pair fits.
fn merge_smallest_neighbours(parts: &mut Vec<Part>, capacity: usize) -> bool {
    let best = (0..parts.len() - 1)
        .map(|i| (parts[i].leaves.len() + parts[i + 1].leaves.len(), i))
        .filter(|(size, _)| *size <= capacity)
        .min();
    let Some((_, i)) = best else {
        return false;
    };
    let second = parts.remove(i + 1);
    let first = &mut parts[i];
    first.leaves.extend(second.leaves);
    first.origin = None;
    merge_phrases(&mut first.say, &second.say);
    true
}

/// Consecutive chunks of near-equal size, each within `capacity`. The group's
/// name and phrases go to the first chunk only, so they stay unambiguous.
fn chunk_evenly(
    leaves: Vec<Leaf>,
    capacity: usize,
    origin: Option<String>,
    say: Vec<String>,
) -> Vec<Part> {
    let count = leaves.len().div_ceil(capacity);
    let size = leaves.len().div_ceil(count);
    leaves
        .chunks(size)
        .enumerate()
        .map(|(index, leaves)| Part {
            leaves: leaves.to_vec(),
            origin: origin.as_ref().map(|name| match index {
                0 => name.clone(),
                _ => format!("more_{name}"),
            }),
            say: if index == 0 { say.clone() } else { Vec::new() },
        })
        .collect()
}

/// Keeps each phrase on the first option of a node that has it.
fn dedupe_phrases(options: &mut [MenuOption]) {
    let mut used = HashSet::new();
    for option in options.iter_mut() {
        option
            .say
            .retain(|phrase| used.insert(normalize_phrase(phrase)));
    }
}

/// Adds spoken options to the entry node for every action not already offered
/// there, using the phrases that name exactly one action.
fn add_shortcuts(entry: &mut Node, leaves: &[Leaf]) -> usize {
    let mut owners: HashMap<String, usize> = HashMap::new();
    for leaf in leaves {
        for phrase in &leaf.say {
            *owners.entry(normalize_phrase(phrase)).or_insert(0) += 1;
        }
    }
    let mut used: HashSet<String> = entry
        .options
        .iter()
        .flat_map(|option| option.say.iter().map(|p| normalize_phrase(p)))
        .collect();
    let offered: HashSet<MenuAction> = entry
        .options
        .iter()
        .filter_map(|option| match &option.target {
            Target::Action(action) => Some(action.clone()),
            Target::Goto(_) => None,
        })
        .collect();
    let mut added = 0;
    for leaf in leaves.iter().filter(|leaf| !offered.contains(&leaf.action)) {
        let say: Vec<String> = leaf
            .say
            .iter()
            .filter(|phrase| owners[&normalize_phrase(phrase)] == 1)
            .filter(|phrase| used.insert(normalize_phrase(phrase)))
            .cloned()
            .collect();
        if say.is_empty() {
            continue;
        }
        entry.options.push(MenuOption {
            key: None,
            say,
            target: Target::Action(leaf.action.clone()),
            line: 0,
        });
        added += 1;
    }
    added
}

/// Most choices needed to reach the deepest action by its nearest route;
/// with `keys_only`, counting key presses and ignoring spoken options.
pub fn deepest_action(menu: &Menu, keys_only: bool) -> u32 {
    let mut depth_of: BTreeMap<&MenuAction, u32> = BTreeMap::new();
    let mut seen = HashSet::from([menu.entry.as_str()]);
    let mut queue = VecDeque::from([(menu.entry.as_str(), 0u32)]);
    while let Some((name, depth)) = queue.pop_front() {
        let Some(node) = menu.node(name) else {
            continue;
        };
        for option in &node.options {
            if keys_only && option.key.is_none() {
                continue;
            }
            match &option.target {
                Target::Action(action) => {
                    depth_of.entry(action).or_insert(depth + 1);
                }
                Target::Goto(next) => {
                    if seen.insert(next.as_str()) {
                        queue.push_back((next.as_str(), depth + 1));
                    }
                }
            }
        }
    }
    depth_of.values().copied().max().unwrap_or(0)
}
