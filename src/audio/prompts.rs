//! Prompts, decoded once at start-up from the prompts directory (any format
//! symphonia reads) into 20 ms frames at the call rate, ready to encode for
//! whichever codec a call negotiated.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::decode::{AudioError, ChannelPick, Recording};
use super::{CALL_RATE, FRAME_SAMPLES};

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("{dir}: no audio file for prompt {name:?}: add {name}.wav (any format symphonia reads) there")]
    Missing { dir: PathBuf, name: String },
    #[error("prompt {name:?}: {source}")]
    Unreadable { name: String, source: AudioError },
}

/// Decoded prompts by name.
#[derive(Debug, Default, Clone)]
pub struct PromptLibrary {
    frames: HashMap<String, Vec<Vec<f32>>>,
}

impl PromptLibrary {
    /// Loads the named prompts from `dir`; any missing or unreadable one is an error.
    pub fn load<'a>(
        dir: &Path,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<PromptLibrary, PromptError> {
        let files = files_by_stem(dir);
        let mut library = PromptLibrary::default();
        for name in names {
            if library.frames.contains_key(name) {
                continue;
            }
            let path = files.get(name).ok_or_else(|| PromptError::Missing {
                dir: dir.to_path_buf(),
                name: name.to_string(),
            })?;
            let frames = decode_frames(path).map_err(|source| PromptError::Unreadable {
                name: name.to_string(),
                source,
            })?;
            library.frames.insert(name.to_string(), frames);
        }
        Ok(library)
    }

    /// The prompt's 20 ms frames (the last one padded with silence).
    pub fn frames(&self, name: &str) -> Option<&[Vec<f32>]> {
        self.frames.get(name).map(Vec::as_slice)
    }

    /// How long each prompt plays.
    pub fn lengths(&self) -> HashMap<String, Duration> {
        self.frames
            .iter()
            .map(|(name, frames)| {
                let samples = frames.len() * FRAME_SAMPLES;
                (
                    name.clone(),
                    Duration::from_secs_f64(samples as f64 / f64::from(CALL_RATE)),
                )
            })
            .collect()
    }
}

fn files_by_stem(dir: &Path) -> HashMap<String, PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return HashMap::new();
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file())
        .filter_map(|path| Some((path.file_stem()?.to_str()?.to_string(), path)))
        .collect()
}

fn decode_frames(path: &Path) -> Result<Vec<Vec<f32>>, AudioError> {
    let mut recording = Recording::open(path, ChannelPick::Mix)?;
    let mut samples = Vec::new();
    while let Some(block) = recording.next_block()? {
        samples.extend(block);
    }
    Ok(samples
        .chunks(FRAME_SAMPLES)
        .map(|chunk| {
            let mut frame = chunk.to_vec();
            frame.resize(FRAME_SAMPLES, 0.0);
            frame
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(path: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
    }

    #[test]
    fn shipped_prompts_load_as_frames_with_their_length() {
        let library = PromptLibrary::load(
            &repo("sip-config/prompts"),
            ["main", "invalid_option", "main"],
        )
        .unwrap();
        let frames = library.frames("main").unwrap();
        assert!(frames.iter().all(|f| f.len() == FRAME_SAMPLES));
        let length = library.lengths()["main"];
        assert!((length.as_secs_f64() - 15.86).abs() < 0.03, "{length:?}");
    }

    #[test]
    fn a_missing_or_unreadable_prompt_names_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let missing = PromptLibrary::load(dir.path(), ["welcome"])
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("no audio file for prompt \"welcome\": add welcome.wav"),
            "{missing}"
        );
        std::fs::write(dir.path().join("welcome.wav"), b"not audio").unwrap();
        let unreadable = PromptLibrary::load(dir.path(), ["welcome"])
            .unwrap_err()
            .to_string();
        assert!(
            unreadable.contains("prompt \"welcome\": ") && unreadable.contains("welcome.wav"),
            "{unreadable}"
        );
    }
}
