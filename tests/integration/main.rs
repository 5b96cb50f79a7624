//! Integration tests, one binary: the CLI as users run it, and properties of
//! menu flattening.

mod cli_keywords;
mod cli_menu;
mod cli_replay;
mod cli_serve;
mod flatten_props;
mod fuzz_corpus;
mod infer;
mod parse_props;
/// The store's own test server, shared with its unit tests.
#[path = "../../src/store/pg_server.rs"]
mod pg_server;
mod sip_torture;
mod sipp;

use std::path::PathBuf;

/// A file in the repository, by its path from the root.
pub fn repo_path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The voicegate binary, run from a temporary directory so that no
/// `sip-config/` is found by accident unless a test puts one there.
pub fn voicegate_in(dir: &std::path::Path) -> assert_cmd::Command {
    let mut command = assert_cmd::Command::cargo_bin("voicegate").expect("binary built");
    command.current_dir(dir);
    command
}

/// Runs a voicegate `command` that must succeed (else fails with its
/// stderr) and returns its stdout.
pub fn stdout_of(command: &mut assert_cmd::Command) -> String {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The same, its stdout one JSON value a line.
pub fn json_output(command: &mut assert_cmd::Command) -> Vec<serde_json::Value> {
    json_lines(stdout_of(command).as_bytes())
}

/// Each line of `stdout` as JSON.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect()
}

/// Writes `text` to `name` inside `dir` and returns the path.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create dirs");
    }
    std::fs::write(&path, text).expect("write file");
    path
}
