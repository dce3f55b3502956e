//! Writing an edited source file back (`quill fill --write`, `quill refactor --write`):
//! only over the very bytes the command read (an edit saved meanwhile, from an editor or
//! another tool, is never overwritten), atomically (a temporary file in the same folder,
//! renamed over the file), keeping the file's permissions; and, for refactors, after a
//! backup that never follows a link nor replaces an older backup.

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use quill::regular_file::{self, ReadError};

/// Backups tried before giving up: `FILE.orig`, `FILE.orig.1`, … `FILE.orig.999`.
const MAX_BACKUPS: u32 = 1000;

/// Refuses unless `path` still holds exactly `original`, the bytes read when the command
/// started.
pub fn ensure_unchanged(path: &Path, original: &[u8]) -> Result<()> {
    let same = match regular_file::read(path, original.len() as u64) {
        Ok(now) => now == original,
        Err(ReadError::TooLarge { .. }) => false,
        Err(ReadError::NotRegular(kind)) => {
            bail!("{} is now {kind}; nothing was written", path.display())
        }
        Err(ReadError::Io(e)) => {
            return Err(anyhow!(e)).with_context(|| {
                format!(
                    "cannot read {} again before replacing it; nothing was written",
                    path.display()
                )
            });
        }
    };
    if !same {
        bail!(
            "{} changed while quill worked on it; nothing was written (run the command again \
             on the current file)",
            path.display()
        );
    }
    Ok(())
}

/// A replacement written to a temporary file next to its target, not yet in place.
/// Dropped without [`Pending::commit_if_unchanged`], it is deleted.
pub struct Pending {
    tmp: tempfile::NamedTempFile,
    path: PathBuf,
}

/// Writes `text` to a temporary file in `path`'s folder, synced, with `path`'s permissions.
pub fn prepare(path: &Path, text: &str) -> Result<Pending> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("create a temporary file in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("write a temporary file in {}", dir.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions())
            .with_context(|| format!("give the new {} its permissions", path.display()))?;
    }
    Ok(Pending {
        tmp,
        path: path.to_path_buf(),
    })
}

impl Pending {
    /// Renames the new text over the file, if the file still holds `original`.
    pub fn commit_if_unchanged(self, original: &[u8]) -> Result<()> {
        ensure_unchanged(&self.path, original)?;
        let Pending { tmp, path } = self;
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("replace {}", path.display()))?;
        if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Replaces `path` with `text` if it still holds `original`.
pub fn replace_if_unchanged(path: &Path, original: &[u8], text: &str) -> Result<()> {
    prepare(path, text)?.commit_if_unchanged(original)
}

/// Like [`replace_if_unchanged`], keeping `original` in a new backup file first (see
/// [`create_backup`]). Returns the backup's path. When the file is not replaced, the
/// backup is removed again: nothing is written.
pub fn replace_with_backup(path: &Path, original: &[u8], text: &str) -> Result<PathBuf> {
    let pending = prepare(path, text)?;
    // Refuse before making a backup, and again just before the rename.
    ensure_unchanged(path, original)?;
    let backup = create_backup(path, original)?;
    if let Err(e) = pending.commit_if_unchanged(original) {
        let _ = std::fs::remove_file(&backup);
        return Err(e);
    }
    Ok(backup)
}

/// The `n`-th backup name of `path`: `FILE.orig`, then `FILE.orig.1`, `FILE.orig.2`, …
fn backup_name(path: &Path, n: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(".orig");
    if n > 0 {
        name.push(format!(".{n}"));
    }
    PathBuf::from(name)
}

/// Writes `bytes` to a new file beside `path`, under the first free backup name. The file
/// is created exclusively (`create_new`), so an existing backup is never overwritten and a
/// symbolic link planted at the name is never followed; it gets `path`'s permission bits.
pub fn create_backup(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        // Never readable by more people than the file itself.
        let mode = std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o777);
        opts.mode(mode);
    }
    for n in 0..MAX_BACKUPS {
        let name = backup_name(path, n);
        match opts.open(&name) {
            Ok(mut f) => {
                let written = f.write_all(bytes).and_then(|()| f.sync_all());
                if let Err(e) = written {
                    drop(f);
                    let _ = std::fs::remove_file(&name);
                    return Err(e).with_context(|| format!("write the backup {}", name.display()));
                }
                return Ok(name);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("back up {} to {} first", path.display(), name.display())
                });
            }
        }
    }
    bail!(
        "{} already has {MAX_BACKUPS} backups ({} …): remove some",
        path.display(),
        backup_name(path, 0).display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_a_file_that_still_holds_what_was_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.py");
        std::fs::write(&p, "old\n").unwrap();
        replace_if_unchanged(&p, b"old\n", "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_a_file_changed_meanwhile_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.py");
        std::fs::write(&p, "old\n").unwrap();
        // Saved from an editor while the model ran: same length, other bytes.
        let pending = prepare(&p, "new\n").unwrap();
        std::fs::write(&p, "OLD\n").unwrap();
        let err = pending.commit_if_unchanged(b"old\n").unwrap_err();
        assert!(
            err.to_string().contains("changed while quill worked"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "OLD\n");
        // Longer, shorter, or gone.
        for now in ["old\nmore\n", "ol"] {
            std::fs::write(&p, now).unwrap();
            let err = replace_if_unchanged(&p, b"old\n", "new\n").unwrap_err();
            assert!(err.to_string().contains("changed while"), "{err}");
            assert_eq!(std::fs::read_to_string(&p).unwrap(), now);
        }
        std::fs::remove_file(&p).unwrap();
        let err = replace_if_unchanged(&p, b"old\n", "new\n").unwrap_err();
        assert!(err.to_string().contains("nothing was written"), "{err}");
        assert!(!p.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        // The refactor path writes no backup either.
        std::fs::write(&p, "OLD\n").unwrap();
        let err = replace_with_backup(&p, b"old\n", "new\n").unwrap_err();
        assert!(err.to_string().contains("changed while"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn keeps_the_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run.sh");
        std::fs::write(&p, "old\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o750)).unwrap();
        let backup = replace_with_backup(&p, b"old\n", "new\n").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&p), 0o750);
        // The backup is never readable by more people than the file (umask may clear more).
        assert_eq!(mode(&backup) & !0o750, 0);
    }

    #[test]
    fn backups_get_fresh_names_and_keep_the_bytes_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.py");
        std::fs::write(&p, "v1\n").unwrap();
        let b0 = replace_with_backup(&p, b"v1\n", "v2\n").unwrap();
        assert_eq!(b0, dir.path().join("a.py.orig"));
        let b1 = replace_with_backup(&p, b"v2\n", "v3\n").unwrap();
        assert_eq!(b1, dir.path().join("a.py.orig.1"));
        // The first backup was not overwritten.
        assert_eq!(std::fs::read_to_string(&b0).unwrap(), "v1\n");
        assert_eq!(std::fs::read_to_string(&b1).unwrap(), "v2\n");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "v3\n");
        // What was read is backed up, not what is on disk at backup time.
        let other = dir.path().join("b.py");
        std::fs::write(&other, "on disk\n").unwrap();
        let b = create_backup(&other, b"as read\n").unwrap();
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "as read\n");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_at_the_backup_name_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.py");
        std::fs::write(&p, "v1\n").unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious\n").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("a.py.orig")).unwrap();
        // A dangling link is not followed either.
        std::os::unix::fs::symlink(dir.path().join("nowhere"), dir.path().join("a.py.orig.1"))
            .unwrap();
        let b = replace_with_backup(&p, b"v1\n", "v2\n").unwrap();
        assert_eq!(b, dir.path().join("a.py.orig.2"));
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "v1\n");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!dir.path().join("nowhere").exists());
        assert!(std::fs::symlink_metadata(&b).unwrap().file_type().is_file());
    }
}
