//! `voicegate menu …` as an admin runs it.

use predicates::prelude::*;
use predicates::str::contains;

use super::{repo_path, stdout_of, voicegate_in, write};

const VALID: &str = r#"entry = "main"
[nodes.main]
prompt = "welcome"
options = [
  { key = "1", say = ["billing", "账单"], goto = "billing" },
  { key = "2", say = ["agent", "人工"], action = "transfer:agents" },
]
[nodes.billing]
prompt = "billing"
options = [ { key = "1", say = ["balance"], action = "flow:balance" } ]
"#;

fn check_fails_with(menu: &str, expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "menu.toml", menu);
    let mut assert = voicegate_in(dir.path())
        .args(["menu", "check"])
        .arg(&path)
        .assert()
        .code(2);
    for text in expected {
        assert = assert.stderr(contains(*text));
    }
    assert.stderr(contains("panicked").not());
}

#[test]
fn check_accepts_the_shipped_flattened_menu() {
    voicegate_in(&repo_path("."))
        .args(["menu", "check", "sip-config/menus/main.toml"])
        .assert()
        .success()
        .stdout(contains("main.toml: ok").and(contains("(3 key presses)")));
}

#[test]
fn check_rejects_the_legacy_menu_with_lines_and_paths() {
    voicegate_in(&repo_path("."))
        .args(["menu", "check", "fixtures/menus/legacy_bank.toml"])
        .assert()
        .code(2)
        .stderr(contains(
            "legacy_bank.toml:75: too deep: action flow:stop_paper_statements takes 6 choices",
        ))
        .stderr(contains(
            "(path: main [1] → personal [1] → accounts [1] → checking [2] → statements [1] → estatements [2] → flow:stop_paper_statements)",
        ))
        .stderr(contains("legacy_bank.toml:24: cycle: node \"personal\" leads back to \"main\""));
}

#[test]
fn check_accepts_a_small_valid_menu() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "menu.toml", VALID);
    voicegate_in(dir.path())
        .args(["menu", "check"])
        .arg(&path)
        .assert()
        .success()
        .stdout(contains("ok, 2 nodes, 2 distinct actions"));
}

#[test]
fn check_reports_a_cycle() {
    let menu = VALID.replace("action = \"flow:balance\"", "goto = \"main\"");
    check_fails_with(
        &menu,
        &["menu.toml:10: cycle", "path: main [1] → billing [1] → main"],
    );
}

#[test]
fn check_reports_an_unknown_goto() {
    let menu = VALID.replace("goto = \"billing\"", "goto = \"biling\"");
    check_fails_with(
        &menu,
        &[
            "menu.toml:5: unknown goto",
            "\"biling\"",
            "unreachable node",
        ],
    );
}

#[test]
fn check_reports_a_duplicate_key() {
    let menu = VALID.replace("key = \"2\"", "key = \"1\"");
    check_fails_with(
        &menu,
        &["menu.toml:6: duplicate key: key '1' is used twice in node \"main\""],
    );
}

#[test]
fn check_reports_a_missing_prompt() {
    let menu = VALID.replace("prompt = \"billing\"\n", "");
    check_fails_with(
        &menu,
        &["menu.toml:8: missing prompt: node \"billing\" has no `prompt`"],
    );
}

#[test]
fn check_reports_a_missing_prompt_file_when_the_prompts_dir_is_known() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "menu.toml", VALID);
    write(dir.path(), "prompts/welcome.wav", "");
    voicegate_in(dir.path())
        .args(["menu", "check", "--prompts", "prompts"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains(
            "menu.toml:8: missing prompt: prompt \"billing\" of node \"billing\" has no audio file",
        ))
        .stderr(contains("welcome").not());
}

#[test]
fn check_reports_an_unreachable_node() {
    let menu = format!("{VALID}[nodes.orphan]\nprompt = \"x\"\noptions = [ {{ key = \"1\", action = \"flow:x\" }} ]\n");
    check_fails_with(&menu, &["menu.toml:11: unreachable node: node \"orphan\""]);
}

#[test]
fn check_reports_too_deep_with_the_path() {
    let menu = r#"entry = "a"
[nodes.a]
prompt = "a"
options = [ { key = "1", goto = "b" } ]
[nodes.b]
prompt = "b"
options = [ { key = "2", goto = "c" } ]
[nodes.c]
prompt = "c"
options = [ { key = "3", goto = "d" } ]
[nodes.d]
prompt = "d"
options = [ { key = "4", action = "flow:deep" } ]
"#;
    check_fails_with(
        menu,
        &[
            "menu.toml:13: too deep: action flow:deep takes 4 choices",
            "path: a [1] → b [2] → c [3] → d [4] → flow:deep",
        ],
    );
}

#[test]
fn check_reports_an_empty_menu() {
    check_fails_with("entry = \"main\"\n", &["menu.toml:1: empty menu"]);
}

#[test]
fn check_reports_malformed_toml_with_its_line() {
    check_fails_with(
        "entry = \"main\"\n[nodes.main\nprompt = 1\n",
        &["menu.toml:2:"],
    );
}

#[test]
fn check_reports_unknown_keys_and_wrong_types() {
    check_fails_with(
        &VALID.replace("prompt = \"welcome\"", "promt = \"welcome\""),
        &["menu.toml:3:", "unknown field `promt`"],
    );
    check_fails_with(
        &VALID.replace("prompt = \"welcome\"", "prompt = 7"),
        &["menu.toml:3:", "invalid type"],
    );
    check_fails_with(
        &VALID.replace("key = \"2\"", "key = \"22\""),
        &["menu.toml:6: key \"22\" is not one DTMF key"],
    );
}

#[test]
fn check_reports_transfers_to_queues_the_configuration_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "menu.toml",
        &VALID.replace("transfer:agents", "transfer:nowhere"),
    );
    voicegate_in(dir.path())
        .args(["menu", "check", "--config"])
        .arg(repo_path("sip-config/gateway.toml"))
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains(
            "menu.toml:6: unknown queue: transfer to \"nowhere\"",
        ));
}

#[test]
fn show_prints_the_outline_with_hop_counts() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "menu.toml", VALID);
    voicegate_in(dir.path())
        .args(["menu", "show"])
        .arg(&path)
        .assert()
        .success()
        .stdout(contains("main  (prompt: welcome)\n  [1] \"billing\" / \"账单\" →\n    billing  (prompt: billing)\n      [1] \"balance\" → flow:balance  (2 hops)\n  [2] \"agent\" / \"人工\" → transfer:agents  (1 hop)\n"));
}

/// `menu flatten LEGACY -o DIR/flat.toml`, which must succeed and write a
/// menu that `menu check` passes: its report and the flattened text.
fn flattened(dir: &std::path::Path, legacy: &str) -> (String, String) {
    let out = dir.join("flat.toml");
    let report = stdout_of(
        voicegate_in(&repo_path("."))
            .args(["menu", "flatten", legacy, "-o"])
            .arg(&out),
    );
    voicegate_in(dir)
        .args(["menu", "check"])
        .arg(&out)
        .assert()
        .success();
    (report, std::fs::read_to_string(&out).unwrap())
}

#[test]
fn flatten_turns_the_legacy_menu_into_one_that_passes_check() {
    let dir = tempfile::tempdir().unwrap();
    let (report, flat) = flattened(dir.path(), "fixtures/menus/legacy_bank.toml");
    assert!(report.contains("key presses:        6 → 3 to the deepest action"));
    assert!(report.contains("actions:            40 (all kept"));
    assert!(flat.contains(
        "{ say = [\"stop paper statements\"], action = \"flow:stop_paper_statements\" }"
    ));
}

#[test]
fn flatten_resolves_a_phrase_two_options_share_and_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = "fixtures/menus/ambiguous_legacy.toml";
    voicegate_in(&repo_path("."))
        .args(["menu", "check", legacy])
        .assert()
        .code(2)
        .stderr(contains(
            "duplicate phrase: phrase \"mortgage\" is used twice in node \"loans\"",
        ));
    let (report, flat) = flattened(dir.path(), legacy);
    assert!(
        report.contains("shared phrases:     2 resolved"),
        "{report}"
    );
    assert!(report.contains("node \"loans\": \"mortgage\" kept on key 1 (goto mortgage_rates); key 2 (goto mortgage_application) now says \"mortgage application\""), "{report}");
    assert!(
        report.contains("actions:            9 (all kept"),
        "{report}"
    );
    for action in [
        "flow:variable_rates",
        "flow:fixed_30_rates",
        "flow:fixed_15_rates",
        "transfer:mortgage_advisers",
        "flow:application_status",
        "flow:car_loan_rates",
        "transfer:agents",
        "flow:checking_balance",
        "flow:savings_balance",
    ] {
        assert!(
            flat.contains(&format!("action = \"{action}\"")),
            "{action} kept:\n{flat}"
        );
    }
    assert!(
        flat.contains("say = [\"savings balance\", \"savings\"]"),
        "{flat}"
    );
}

#[test]
fn flatten_refuses_a_broken_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "menu.toml",
        &VALID.replace("goto = \"billing\"", "goto = \"nowhere\""),
    );
    voicegate_in(dir.path())
        .args(["menu", "flatten"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(contains("menu.toml:5: unknown goto"))
        .stdout(predicate::str::is_empty());
}

#[test]
fn simulate_walks_keys_and_speech_to_the_final_action() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "menu.toml", VALID);
    voicegate_in(dir.path())
        .args(["menu", "simulate"])
        .arg(&path)
        .args(["--input", "1,balance"])
        .assert()
        .success()
        .stdout(contains("menu      at billing after 1 choices"))
        .stdout(contains("final: flow:balance"));
}

#[test]
fn simulate_shows_the_escape_hatch_on_the_legacy_tree() {
    voicegate_in(&repo_path("."))
        .args([
            "menu",
            "simulate",
            "fixtures/menus/legacy_bank.toml",
            "--input",
            "1,1,1,1",
        ])
        .assert()
        .success()
        .stdout(contains("final: transfer to agents (reason hop_limit"));
}

#[test]
fn prompts_lists_every_prompt_the_menu_plays_with_its_text() {
    let dir = tempfile::tempdir().unwrap();
    let menu = VALID.replace(
        "prompt = \"welcome\"",
        "prompt = \"welcome\"\ntext = \"Welcome to the test line.\"",
    );
    let path = write(dir.path(), "menu.toml", &menu);
    voicegate_in(dir.path())
        .args(["menu", "prompts"])
        .arg(&path)
        .assert()
        .success()
        .stdout(contains("welcome\tWelcome to the test line.\n"))
        .stdout(contains(
            "billing\tFor balance, press 1. Or just say what you need.\n",
        ))
        .stdout(contains("balance\tThis is the balance service.\n"))
        .stdout(contains(
            "invalid_option\tSorry, that is not one of the options.\n",
        ));
}
