//! Reading a file that a user or a batch task names, without hanging or running out of
//! memory: only regular files (a FIFO blocks forever, a device such as `/dev/zero` never
//! ends), and never more than a cap, even when the file grows while it is read.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Read;
use std::path::Path;

/// Why a file was not read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("is larger than {cap} bytes")]
    TooLarge { cap: u64 },
}

/// What kind of file `meta` describes, for messages.
fn kind(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "something else"
}

fn check(meta: &Metadata) -> Result<(), ReadError> {
    if meta.is_file() {
        Ok(())
    } else {
        Err(ReadError::NotRegular(kind(meta)))
    }
}

/// The bytes of the regular file at `path` (symbolic links followed), at most `cap` of them.
///
/// The type is checked on the path before opening and again on the opened handle (the path
/// may have been swapped in between); on Unix the file is opened non-blocking, so even a
/// FIFO swapped in at that moment cannot block the open. Reading goes through
/// `take(cap + 1)`, so a file that grows while it is read is still bounded.
pub fn read(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let meta = std::fs::metadata(path)?;
    check(&meta)?;
    if meta.len() > cap {
        return Err(ReadError::TooLarge { cap });
    }
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.custom_flags(libc::O_NONBLOCK);
    }
    let file: File = opts.open(path)?;
    let meta = file.metadata()?;
    check(&meta)?;
    let mut bytes = Vec::with_capacity(meta.len().min(cap) as usize);
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge { cap });
    }
    Ok(bytes)
}

/// Why a source file was not read: the file itself, or what it holds.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
}

/// The text of the source file at `path`: a regular file of at most
/// [`MAX_SOURCE_BYTES`](crate::text::MAX_SOURCE_BYTES), UTF-8 and not binary. Every command
/// that reads a file a user names (complete, fill, explain, batch, eval, bench) reads it here.
pub fn read_source(path: &Path) -> Result<String, SourceError> {
    let bytes = read(path, crate::text::MAX_SOURCE_BYTES as u64)?;
    Ok(crate::text::decode_source(&bytes)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_are_read_up_to_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read(&p, 5).unwrap(), b"12345");
        assert!(matches!(read(&p, 4), Err(ReadError::TooLarge { cap: 4 })));
        assert!(matches!(
            read(&dir.path().join("nope"), 10),
            Err(ReadError::Io(_))
        ));
        let err = read(dir.path(), 10).unwrap_err();
        assert_eq!(err.to_string(), "is a directory, not a regular file");
    }

    #[cfg(unix)]
    #[test]
    fn fifos_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        // Opening a FIFO for reading with no writer would block forever.
        let err = read(&fifo, 10).unwrap_err();
        assert_eq!(err.to_string(), "is a FIFO, not a regular file");
        // /dev/zero never ends.
        let err = read(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(err.to_string(), "is a device, not a regular file");
        // A symbolic link to one is refused too.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert!(matches!(read(&link, 10), Err(ReadError::NotRegular(_))));
        let err = read_source(&fifo).unwrap_err();
        assert_eq!(err.to_string(), "is a FIFO, not a regular file");
    }

    #[test]
    fn sources_are_text() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.py");
        std::fs::write(&p, b"x = 1\n").unwrap();
        assert_eq!(read_source(&p).unwrap(), "x = 1\n");
        std::fs::write(&p, b"x\0y").unwrap();
        assert!(matches!(read_source(&p), Err(SourceError::Text(_))));
    }
}
