//! Every fuzz corpus entry and crash reproducer under `fuzz/` replayed
//! through the same entry points the fuzzers call (`voicegate::fuzz`), so a
//! crash found once stays fixed, without nightly Rust or cargo-fuzz.

use std::path::Path;

use super::repo_path;

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_entry_and_reproducer_runs_through_its_target() {
    for (name, target) in voicegate::fuzz::TARGETS {
        let corpus = files_under(&repo_path(&format!("fuzz/corpus/{name}")));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{name} has no seed: add one that the target parses"
        );
        let reproducers = files_under(&repo_path(&format!("fuzz/regressions/{name}")));
        for file in corpus.iter().chain(&reproducers) {
            let bytes = std::fs::read(file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&bytes));
            assert!(outcome.is_ok(), "{name}: {} panics", file.display());
        }
    }
}

#[test]
fn every_fuzz_target_has_its_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(repo_path("fuzz/Cargo.toml")).unwrap();
    for (name, _) in voicegate::fuzz::TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "fuzz/Cargo.toml lists no binary {name}"
        );
        assert!(repo_path(&format!("fuzz/fuzz_targets/{name}.rs")).is_file());
    }
}
