//! Batch output: one JSON record per task, written whole and flushed as each task
//! finishes, so a run killed half-way leaves valid JSON Lines.
//!
//! Records are written in the order tasks finish; each carries its input `line`, so the
//! input order is restored by sorting on it (`jq -s 'sort_by(.line)[]'`).
//!
//! A record that cannot be written (disk full, a closed pipe) is an error that ends the
//! run: generating more that nobody can read would only waste the machine.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::{Context, Result};

/// One output line.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    pub id: Option<String>,
    /// 1-based line of the task in the input.
    pub line: usize,
    pub text: Option<String>,
    pub error: Option<String>,
    pub prompt_tokens: u64,
    pub generated_tokens: u64,
    pub ms: u64,
}

impl Record {
    pub fn error(id: Option<String>, line: usize, error: impl Into<String>) -> Record {
        Record {
            id,
            line,
            text: None,
            error: Some(error.into()),
            prompt_tokens: 0,
            generated_tokens: 0,
            ms: 0,
        }
    }
}

/// Where records go: a file or stdout.
pub struct Sink {
    out: Box<dyn Write + Send>,
    /// For messages: the file's path, or "stdout".
    name: String,
}

impl Sink {
    /// Opens `path` (`-` for stdout). With `resume`, keeps the file's whole lines (a line cut
    /// by a kill is dropped) and appends; otherwise starts it afresh.
    pub fn open(path: &Path, resume: bool) -> Result<Sink> {
        if path == Path::new("-") {
            return Ok(Sink::new("stdout", std::io::stdout()));
        }
        let file = if resume && path.exists() {
            let mut f = OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .with_context(|| format!("open {}", path.display()))?;
            let whole = whole_lines_len(&mut f)?;
            f.set_len(whole)?;
            f.seek(SeekFrom::End(0))?;
            f
        } else {
            File::create(path).with_context(|| format!("create {}", path.display()))?
        };
        Ok(Sink::new(path.display().to_string(), file))
    }

    /// Records written to `out`, called `name` in messages.
    pub fn new(name: impl Into<String>, out: impl Write + Send + 'static) -> Sink {
        Sink {
            out: Box::new(out),
            name: name.into(),
        }
    }

    /// Writes one record as one line, in one write, and flushes it.
    pub fn write(&mut self, record: &Record) -> Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.out
            .write_all(&line)
            .and_then(|()| self.out.flush())
            .with_context(|| format!("write a result to {}", self.name))
    }
}

/// Bytes of `f` up to and including its last line break.
fn whole_lines_len(f: &mut File) -> Result<u64> {
    f.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&mut *f);
    let mut total = 0u64;
    let mut whole = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if buf.ends_with(b"\n") {
            whole = total;
        }
    }
    Ok(whole)
}

/// The ids a previous run finished without error, from its output file.
pub fn finished_ids(path: &Path) -> Result<HashSet<String>> {
    let mut ids = HashSet::new();
    if path == Path::new("-") || !path.exists() {
        return Ok(ids);
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        if let Ok(r) = serde_json::from_str::<Record>(line)
            && r.error.is_none()
            && let Some(id) = r.id
        {
            ids.insert(id);
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, line: usize, ok: bool) -> Record {
        Record {
            id: Some(id.into()),
            line,
            text: ok.then(|| "x".into()),
            error: (!ok).then(|| "boom".into()),
            prompt_tokens: 1,
            generated_tokens: 1,
            ms: 1,
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_an_error_that_names_the_output() {
        let mut sink = Sink::open(Path::new("/dev/full"), false).unwrap();
        let err = sink.write(&rec("a", 1, true)).unwrap_err();
        assert_eq!(err.to_string(), "write a result to /dev/full");
        assert!(format!("{err:#}").contains("No space left"), "{err:#}");
    }

    #[test]
    fn resume_keeps_whole_lines_and_skips_finished_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut sink = Sink::open(&path, false).unwrap();
        sink.write(&rec("a", 1, true)).unwrap();
        sink.write(&rec("b", 2, false)).unwrap();
        drop(sink);
        // A kill in the middle of a write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"id\": \"c\", \"li").unwrap();
        drop(f);
        let done = finished_ids(&path).unwrap();
        assert_eq!(done, HashSet::from(["a".to_string()]));
        let mut sink = Sink::open(&path, true).unwrap();
        sink.write(&rec("c", 3, true)).unwrap();
        drop(sink);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Record> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2].id.as_deref(), Some("c"));
    }
}
