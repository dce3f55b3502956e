//! Where eval tasks come from on disk: the default source of each language (code on every
//! machine of this kind, written by other people), and files or whole packages sampled
//! from a tree by seed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::Rng;
use super::tasks::SourceFile;
use crate::lang::Language;

/// Where a language's tasks come from by default: code on every machine of this kind,
/// written by other people.
pub fn default_source(lang: Language) -> Result<PathBuf> {
    match lang {
        Language::Python => {
            let out = std::process::Command::new("python3")
                .args([
                    "-c",
                    "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
                ])
                .output()
                .context("run python3 to find its standard library")?;
            Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
        }
        Language::Rust => {
            let home = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| dirs::home_dir().map(|h| h.join(".cargo")))
                .context("no cargo home")?;
            let src = home.join("registry").join("src");
            let index = std::fs::read_dir(&src)
                .with_context(|| format!("read {}", src.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .next()
                .context("the cargo registry is empty")?;
            Ok(index)
        }
        Language::JavaScript => {
            let out = std::process::Command::new("npm")
                .args(["root", "-g"])
                .output()
                .context("run npm to find its global packages")?;
            Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("npm"))
        }
        other => bail!("no default source for {}: pass --source DIR", other.name()),
    }
}

/// Source files of `lang` under `root`, sampled by seed: reasonable sizes, no tests.
pub fn collect(root: &Path, lang: Language, max_files: usize, seed: u64) -> Vec<SourceFile> {
    let mut paths = eligible(root, lang);
    let mut rng = Rng::new(seed);
    rng.shuffle(&mut paths);
    paths.truncate(max_files);
    read_sources(root, paths)
}

/// Whole packages for cross-file tasks: folders with at least two files of `lang`, sampled
/// by seed, up to 8 files from each, about `max_files` files in all. Files sampled one by
/// one rarely include two that depend on each other.
pub fn collect_packages(
    root: &Path,
    lang: Language,
    max_files: usize,
    seed: u64,
) -> Vec<SourceFile> {
    let mut by_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for p in eligible(root, lang) {
        if let Some(dir) = p.parent() {
            by_dir.entry(dir.to_path_buf()).or_default().push(p);
        }
    }
    let mut dirs: Vec<Vec<PathBuf>> = by_dir.into_values().filter(|f| f.len() >= 2).collect();
    let mut rng = Rng::new(seed ^ 0x5eed_c0de);
    rng.shuffle(&mut dirs);
    let mut paths = Vec::new();
    for mut files in dirs {
        if paths.len() >= max_files {
            break;
        }
        rng.shuffle(&mut files);
        files.truncate(8);
        paths.extend(files);
    }
    read_sources(root, paths)
}

/// Every file of `lang` under `root` of a reasonable size, tests and vendored trees left
/// out, sorted.
fn eligible(root: &Path, lang: Language) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                let skip = name.starts_with('.')
                    || matches!(
                        name.as_str(),
                        "test"
                            | "tests"
                            | "testing"
                            | "idlelib"
                            | "lib2to3"
                            | "site-packages"
                            | "target"
                            | "benches"
                            | "examples"
                    );
                if !skip {
                    stack.push(p);
                }
            } else if Language::from_path(&p) == Some(lang)
                && (1_500..=24_000).contains(&meta.len())
                && !name.starts_with("test")
            {
                paths.push(p);
            }
        }
    }
    paths.sort();
    paths
}

fn read_sources(root: &Path, paths: Vec<PathBuf>) -> Vec<SourceFile> {
    paths
        .into_iter()
        .filter_map(|p| {
            let text = crate::regular_file::read_source(&p).ok()?;
            let rel = p.strip_prefix(root).unwrap_or(&p).to_path_buf();
            let group = rel
                .parent()
                .map(|g| g.display().to_string())
                .unwrap_or_default();
            Some(SourceFile {
                path: rel.display().to_string(),
                text,
                group,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// A tree with sources, tests, a vendored folder and files too small or too large.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let body = "x = 1\n".repeat(400); // 2,400 bytes: in range
        for p in [
            "pkg/a.py",
            "pkg/b.py",
            "pkg/sub/c.py",
            "lone/d.py",
            "tests/e.py",
            "pkg/test_f.py",
            ".hidden/g.py",
            "site-packages/h.py",
        ] {
            let path = dir.path().join(p);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, &body).unwrap();
        }
        fs::write(dir.path().join("pkg/tiny.py"), "x = 1\n").unwrap();
        fs::write(dir.path().join("pkg/huge.py"), "x = 1\n".repeat(5_000)).unwrap();
        fs::write(dir.path().join("pkg/notes.rs"), &body).unwrap();
        dir
    }

    fn paths(files: &[SourceFile]) -> Vec<&str> {
        let mut v: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        v.sort();
        v
    }

    #[test]
    fn only_reasonable_source_files_of_the_language_are_eligible() {
        let dir = tree();
        let got = collect(dir.path(), Language::Python, 100, 1);
        assert_eq!(
            paths(&got),
            ["lone/d.py", "pkg/a.py", "pkg/b.py", "pkg/sub/c.py"]
        );
        let a = got.iter().find(|f| f.path == "pkg/a.py").unwrap();
        assert_eq!(a.group, "pkg");
    }

    #[test]
    fn sampling_is_deterministic_and_capped() {
        let dir = tree();
        let one = collect(dir.path(), Language::Python, 2, 7);
        assert_eq!(one.len(), 2);
        assert_eq!(
            paths(&one),
            paths(&collect(dir.path(), Language::Python, 2, 7))
        );
    }

    #[test]
    fn packages_are_folders_with_two_files_or_more() {
        let dir = tree();
        let got = collect_packages(dir.path(), Language::Python, 100, 1);
        // `lone/` and `pkg/sub/` have one file each.
        assert_eq!(paths(&got), ["pkg/a.py", "pkg/b.py"]);
    }
}
