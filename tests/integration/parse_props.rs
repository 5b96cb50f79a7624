//! Text a user writes (menus, scripts, configurations) never makes voicegate
//! panic, whatever it holds: it loads or gives an error.

use std::path::Path;

use proptest::prelude::*;
use voicegate::menu;
use voicegate::replay::parse_script;

/// Lines built from the pieces real files have, shuffled and broken.
fn toml_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("entry = \"main\"".to_string()),
        Just("[nodes.main]".to_string()),
        Just("[nodes.b]".to_string()),
        Just("prompt = \"p\"".to_string()),
        Just("options = [ { key = \"1\", goto = \"b\" } ]".to_string()),
        Just("options = [ { key = \"1\", say = [\"x\"], action = \"flow:f\" } ]".to_string()),
        Just("options = [ { key = \"12\", action = \"transfer:\" } ]".to_string()),
        "[ -~]{0,30}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|lines| lines.join("\n"))
}

fn script_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{\"t\":1,\"dtmf\":\"1\"}".to_string()),
        Just("{\"t\":0.5,\"anger\":85}".to_string()),
        Just("{\"t\":2,\"keyword\":\"人工\",\"confidence\":0.9}".to_string()),
        Just("{\"t\":0,\"start\":{\"caller\":\"1\"}}".to_string()),
        Just("{\"t\":1e308,\"hangup\":true}".to_string()),
        Just("{\"t\":-0.0,\"dtmf\":\"#\"}".to_string()),
        "[ -~]{0,30}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #[test]
    fn any_menu_text_parses_checks_and_flattens_or_errors(text in toml_like()) {
        if let Ok(parsed) = menu::parse_menu(&text, Path::new("m.toml")) {
            let options = menu::CheckOptions { max_hops: 3, ..Default::default() };
            let _ = menu::check(&parsed, &options);
            let _ = menu::outline(&parsed);
            let _ = menu::flatten(&parsed, 3);
        }
    }

    #[test]
    fn any_script_text_parses_or_errors(text in script_like()) {
        let _ = parse_script(&text, Path::new("s.jsonl"));
    }
}
