//! Named task sources fetched from PyPI and pinned by version and sha256: code the models
//! cannot have memorised.
//!
//! The default sources (the standard library, the cargo registry) are in every code
//! model's training data, so a cross-file task there can be answered from memory and
//! "context off" scores well for the wrong reason. A corpus of packages first published
//! after the models were trained separates recall from reading the open files.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::lang::Language;
use crate::models::pull::pip_download;
use crate::models::staged::{TempDir, hash_file};

/// One pinned wheel.
#[derive(Debug, Clone, Copy)]
pub struct Wheel {
    /// A pip requirement with an exact version, `name==version`.
    pub requirement: &'static str,
    pub sha256: &'static str,
}

/// A named set of packages whose sources become tasks.
#[derive(Debug, Clone, Copy)]
pub struct Corpus {
    pub name: &'static str,
    pub language: Language,
    pub about: &'static str,
    pub wheels: &'static [Wheel],
}

/// The known corpora.
pub const CORPORA: &[Corpus] = &[Corpus {
    name: "unseen",
    language: Language::Python,
    about: "Python packages first published after Qwen2.5-Coder's training data \
            (November 2024 and later), at versions from 2026",
    wheels: &[
        Wheel {
            requirement: "a2a-sdk==1.3.0",
            sha256: "b94a73b5dc7ff1afe5f11d324480f83386a64d02b8a6b719baf013595284cc6c",
        },
        Wheel {
            requirement: "google-genai==3.6.1",
            sha256: "4b35064da644f61d7e5f6c0e9406bf63b945e7e96b4af18cadb3371cbc3acf74",
        },
        Wheel {
            requirement: "mcp==2.3.0",
            sha256: "dd0c44c089d16453e8ae31a3877a0054d7a2314caaa81f5e0541b9b1734b2377",
        },
        Wheel {
            requirement: "openai-agents==0.24.0",
            sha256: "18d4ac34e84ed937333ec8ce46395ed3521ffcbb0a521780a4c2eaa451467f49",
        },
        Wheel {
            requirement: "pydantic-ai-slim==2.68.0",
            sha256: "bb2fe81f198b77da7686f7b78c78c8a8ce966807c77d9ae277950fc20b77b165",
        },
        Wheel {
            requirement: "smolagents==1.26.0",
            sha256: "70e1cfb1576f782da93190ee31d9bb2659e5ca4bd84fda0c412e1f20498f28b6",
        },
    ],
}];

/// The corpus called `name`.
pub fn find(name: &str) -> Result<&'static Corpus> {
    CORPORA.iter().find(|c| c.name == name).with_context(|| {
        let known: Vec<&str> = CORPORA.iter().map(|c| c.name).collect();
        format!("unknown corpus {name:?}; known: {}", known.join(", "))
    })
}

/// The folder holding `corpus`'s sources under `root`, downloading and unpacking it first
/// when absent. A folder is complete or missing: the sources are unpacked into a scratch
/// folder that is renamed into place only after every wheel was fetched and verified.
pub fn fetch(corpus: &Corpus, root: &Path) -> Result<PathBuf> {
    let dest = root.join(corpus.name);
    if dest.join(COMPLETE).exists() {
        return Ok(dest);
    }
    std::fs::create_dir_all(root).with_context(|| format!("create {}", root.display()))?;
    let staging = TempDir::create(root, &format!(".{}-", corpus.name))?;
    let wheels = TempDir::create(root, ".wheels-")?;
    for w in corpus.wheels {
        eprintln!("fetching {} from PyPI", w.requirement);
        let wheel = pip_download(w.requirement, &wheels.0)?;
        check_sha256(&wheel, w.sha256)?;
        // The wheel's own spelling of the name (`a2a_sdk`), as pip's site-packages has it.
        let package = wheel
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('-').next())
            .context("a wheel file name")?
            .to_string();
        let n = unpack_sources(&wheel, &staging.0.join(package), corpus.language)?;
        if n == 0 {
            bail!(
                "{} has no {} files",
                wheel.display(),
                corpus.language.name()
            );
        }
    }
    std::fs::write(staging.0.join(COMPLETE), "")?;
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&staging.0, &dest)
        .with_context(|| format!("move sources into {}", dest.display()))?;
    Ok(dest)
}

/// Marks a corpus folder whose every wheel was unpacked.
const COMPLETE: &str = ".complete";

fn check_sha256(path: &Path, want: &str) -> Result<()> {
    let got = hash_file(path)?;
    if got != want {
        bail!(
            "{}: sha256 {got}, expected {want}; the file on PyPI is not the pinned one",
            path.display()
        );
    }
    Ok(())
}

/// Copies the source files of `lang` in `wheel` (not its metadata) under `dest`, keeping
/// their paths. Returns how many were copied.
fn unpack_sources(wheel: &Path, dest: &Path, lang: Language) -> Result<usize> {
    let file = File::open(wheel).with_context(|| format!("open {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
    let mut n = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i)?;
        // `enclosed_name` refuses absolute paths and `..`.
        let Some(rel) = entry.enclosed_name() else {
            continue;
        };
        let metadata = rel.components().next().is_some_and(|c| {
            let c = c.as_os_str().to_string_lossy();
            c.ends_with(".dist-info") || c.ends_with(".data")
        });
        if entry.is_dir() || metadata || Language::from_path(&rel) != Some(lang) {
            continue;
        }
        let out = dest.join(&rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut f = File::create(&out).with_context(|| format!("create {}", out.display()))?;
        std::io::copy(&mut entry, &mut f)?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use zip::write::SimpleFileOptions;

    use super::*;

    fn wheel(dir: &Path, members: &[(&str, &str)]) -> PathBuf {
        let path = dir.join("pkg-1.0-py3-none-any.whl");
        let mut zip = zip::ZipWriter::new(File::create(&path).unwrap());
        for (name, text) in members {
            zip.start_file(*name, SimpleFileOptions::default()).unwrap();
            zip.write_all(text.as_bytes()).unwrap();
        }
        zip.finish().unwrap();
        path
    }

    #[test]
    fn only_sources_are_unpacked_and_nothing_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let w = wheel(
            dir.path(),
            &[
                ("pkg/__init__.py", "from .util import f\n"),
                ("pkg/util.py", "def f(): pass\n"),
                ("pkg/data.json", "{}"),
                ("pkg-1.0.dist-info/METADATA", "Name: pkg"),
                ("pkg-1.0.dist-info/hook.py", "x = 1\n"),
                ("../evil.py", "x = 1\n"),
            ],
        );
        let dest = dir.path().join("out");
        assert_eq!(unpack_sources(&w, &dest, Language::Python).unwrap(), 2);
        assert_eq!(
            std::fs::read_to_string(dest.join("pkg/util.py")).unwrap(),
            "def f(): pass\n"
        );
        assert!(!dest.join("pkg/data.json").exists());
        assert!(!dest.join("pkg-1.0.dist-info").exists());
        assert!(!dir.path().join("evil.py").exists());
    }

    #[test]
    fn a_wheel_that_is_not_the_pinned_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let w = wheel(dir.path(), &[("pkg/a.py", "x = 1\n")]);
        let err = check_sha256(&w, &"0".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("not the pinned one"), "{err}");
        check_sha256(&w, &hash_file(&w).unwrap()).unwrap();
    }

    #[test]
    fn a_complete_corpus_is_not_fetched_again() {
        // No pip call happens: the marker says the folder is whole.
        let root = tempfile::tempdir().unwrap();
        let c = find("unseen").unwrap();
        std::fs::create_dir_all(root.path().join(c.name)).unwrap();
        std::fs::write(root.path().join(c.name).join(COMPLETE), "").unwrap();
        assert_eq!(fetch(c, root.path()).unwrap(), root.path().join(c.name));
        assert!(find("nope").unwrap_err().to_string().contains("unseen"));
    }
}
