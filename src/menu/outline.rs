//! `voicegate menu show`: the tree as an indented outline with the hop count
//! of every action.

use std::fmt::Write;

use super::check::describe_choice;
use super::{Menu, Target};

/// The outline, one line per node and option, starting at the entry node.
pub fn outline(menu: &Menu) -> String {
    let mut out = String::new();
    let mut path = Vec::new();
    write_node(menu, &menu.entry, 0, &mut path, &mut out);
    out
}

fn write_node<'m>(
    menu: &'m Menu,
    name: &'m str,
    depth: usize,
    path: &mut Vec<&'m str>,
    out: &mut String,
) {
    let indent = "    ".repeat(depth);
    let Some(node) = menu.node(name) else {
        let _ = writeln!(out, "{indent}{name}  (missing node)");
        return;
    };
    let _ = writeln!(out, "{indent}{name}  (prompt: {})", node.prompt);
    path.push(name);
    for option in &node.options {
        let phrases = phrases(&option.say);
        let choice = describe_choice(option);
        match &option.target {
            Target::Action(action) => {
                let hops = depth + 1;
                let unit = if hops == 1 { "hop" } else { "hops" };
                let _ = writeln!(
                    out,
                    "{indent}  {choice}{phrases} → {action}  ({hops} {unit})"
                );
            }
            Target::Goto(next) if path.contains(&next.as_str()) => {
                let _ = writeln!(out, "{indent}  {choice}{phrases} ↺ back to {next}");
            }
            Target::Goto(next) => {
                let _ = writeln!(out, "{indent}  {choice}{phrases} →");
                write_node(menu, next, depth + 1, path, out);
            }
        }
    }
    path.pop();
}

fn phrases(say: &[String]) -> String {
    if say.is_empty() {
        return String::new();
    }
    let quoted: Vec<String> = say.iter().map(|phrase| format!("{phrase:?}")).collect();
    format!(" {}", quoted.join(" / "))
}
