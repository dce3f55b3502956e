//! A file being downloaded next to its final place: hashed as it is written, checked
//! (size, sha256, read back from disk) and renamed into place, or deleted. Scratch
//! folders for wheels likewise go away with their owner.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

use super::ModelEntry;

/// What a staging file's name ends with (a later pull sweeps old ones).
pub(super) const PARTIAL_SUFFIX: &str = ".partial";

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

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file being downloaded. Deleted on drop unless committed.
pub(super) struct Staged {
    pub(super) path: PathBuf,
    pub(super) out: Option<BufWriter<File>>,
    hasher: Sha256,
    /// Bytes written so far.
    pub(super) written: u64,
    /// The size expected: a source that sends more is refused at once.
    limit: u64,
}

impl Staged {
    /// A new staging file `.FILE.RANDOM.partial` in `dir`, for at most `limit` bytes.
    pub(super) fn create(dir: &Path, file: &str, limit: u64) -> Result<Staged> {
        let prefix = format!(".{file}.");
        let mut builder = tempfile::Builder::new();
        builder
            .prefix(&prefix)
            .suffix(PARTIAL_SUFFIX)
            .rand_bytes(12);
        #[cfg(unix)]
        {
            // As readable as a file made by `File::create` (the model may be shared).
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let (f, path) = builder
            .tempfile_in(dir)
            .with_context(|| format!("create a download file in {}", dir.display()))?
            .keep()
            .context("keep the download file")?;
        Ok(Staged {
            path,
            out: Some(BufWriter::with_capacity(1 << 20, f)),
            hasher: Sha256::new(),
            written: 0,
            limit,
        })
    }

    pub(super) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        if self.written + bytes.len() as u64 > self.limit {
            bail!(
                "the source sent more than the {} bytes expected; it may have changed",
                self.limit
            );
        }
        self.hasher.update(bytes);
        self.written += bytes.len() as u64;
        self.out
            .as_mut()
            .expect("open until commit")
            .write_all(bytes)
            .with_context(|| format!("write {} (disk full?)", self.path.display()))
    }

    /// Checks size and hash against the manifest, then renames into place.
    pub(super) fn commit(mut self, entry: &ModelEntry, dest: &Path) -> Result<()> {
        self.check(Some(entry.size), Some(&entry.sha256))?;
        self.rename_into(dest)
    }

    /// Finishes writing and checks what was written: its size and sha256 when they are
    /// known, and that the file on disk hashes as the bytes handed to it did. Returns the
    /// sha256.
    pub(super) fn check(&mut self, size: Option<u64>, sha256: Option<&str>) -> Result<String> {
        let out = self.out.take().expect("checked once");
        let file = out.into_inner().context("flush the downloaded file")?;
        file.sync_all().context("sync the downloaded file")?;
        drop(file);
        if let Some(size) = size.filter(|s| *s != self.written) {
            bail!(
                "downloaded {} bytes, expected {size}; the source may have changed",
                self.written
            );
        }
        let digest = hex(&std::mem::take(&mut self.hasher).finalize());
        if let Some(want) = sha256.filter(|w| *w != digest) {
            bail!("downloaded file has sha256 {digest}, expected {want}");
        }
        // What the disk holds, read back: not only what was handed to it.
        let on_disk = hash_file(&self.path)?;
        if on_disk != digest {
            bail!(
                "{} has sha256 {on_disk} once written, expected {digest} (a disk or file \
                 system error?)",
                self.path.display()
            );
        }
        Ok(digest)
    }

    /// Moves a checked file to `dest`.
    pub(super) fn rename_into(self, dest: &Path) -> Result<()> {
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
    /// A new folder `PREFIX` + random characters in `parent`: never one another process
    /// (sharing the cache) is using.
    pub(crate) fn create(parent: &Path, prefix: &str) -> Result<TempDir> {
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .rand_bytes(12)
            .tempdir_in(parent)
            .with_context(|| format!("create a folder {prefix}… in {}", parent.display()))?;
        Ok(TempDir(dir.keep()))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
