//! For random legacy trees, `flatten` gives a tree that passes `check` and
//! keeps exactly the input's actions.

use std::collections::BTreeSet;
use std::path::Path;

use proptest::prelude::*;
use voicegate::menu::{self, CheckOptions, Menu, MenuAction, MenuOption, Node, Target};

/// A random tree shape: each node holds some actions and some child nodes.
#[derive(Debug, Clone)]
enum Shape {
    Action(u8, bool),
    Node(Vec<Shape>),
}

fn shape() -> impl Strategy<Value = Shape> {
    let leaf = (0u8..60, any::<bool>()).prop_map(|(id, transfer)| Shape::Action(id, transfer));
    leaf.prop_recursive(6, 120, 8, |inner| {
        prop::collection::vec(inner, 1..8).prop_map(Shape::Node)
    })
}

/// Builds a legacy menu from a shape, with "0 for an operator" and
/// "9 back" on every level, as old trees have.
fn build(shape: &Shape) -> Menu {
    let mut nodes = Vec::new();
    let children = match shape {
        Shape::Node(children) => children.clone(),
        leaf => vec![leaf.clone()],
    };
    add_node(&mut nodes, "n0".into(), None, &children);
    Menu {
        entry: "n0".into(),
        entry_line: 0,
        max_hops: None,
        nodes,
    }
}

fn add_node(nodes: &mut Vec<Node>, name: String, parent: Option<&str>, children: &[Shape]) {
    let index = nodes.len();
    nodes.push(Node {
        name: name.clone(),
        prompt: name.clone(),
        text: None,
        options: Vec::new(),
        line: 0,
    });
    let mut options = Vec::new();
    for (position, child) in children.iter().take(8).enumerate() {
        let key = char::from_digit(position as u32 + 1, 10);
        let target = match child {
            Shape::Action(id, true) => Target::Action(MenuAction::Transfer(format!("q{id}"))),
            Shape::Action(id, false) => Target::Action(MenuAction::Flow(format!("f{id}"))),
            Shape::Node(grandchildren) => {
                let child_name = format!("n{}", nodes.len());
                add_node(nodes, child_name.clone(), Some(&name), grandchildren);
                Target::Goto(child_name)
            }
        };
        let say = vec![format!("phrase {name} {position}")];
        options.push(MenuOption {
            key,
            say,
            target,
            line: 0,
        });
    }
    options.push(option(
        '0',
        "operator",
        Target::Action(MenuAction::Transfer("agents".into())),
    ));
    if let Some(parent) = parent {
        options.push(option('9', "back", Target::Goto(parent.to_string())));
    }
    nodes[index].options = options;
}

fn option(key: char, say: &str, target: Target) -> MenuOption {
    MenuOption {
        key: Some(key),
        say: vec![say.into()],
        target,
        line: 0,
    }
}

fn action_set(menu: &Menu) -> BTreeSet<String> {
    menu.actions().map(|action| action.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn flattened_trees_pass_check_and_keep_every_action(shape in shape()) {
        let legacy = build(&shape);
        let (flat, report) = menu::flatten(&legacy, 3).expect("flatten");
        // Through the file format, as an admin would get it.
        let reread = menu::parse_menu(&menu::to_toml(&flat), Path::new("flat.toml")).expect("reparse");
        let options = CheckOptions { max_hops: 3, ..CheckOptions::default() };
        prop_assert_eq!(menu::check(&reread, &options), vec![]);
        prop_assert_eq!(action_set(&reread), action_set(&legacy));
        prop_assert!(report.key_presses_after <= 3);
        prop_assert_eq!(menu::deepest_action(&reread, true), report.key_presses_after);
    }
}
