//! Reading what a batch is given without hanging or running out of memory: its task lines,
//! each read with a cap (an over-long line becomes that line's error record), and the
//! files that `file` tasks name (regular files only, with a cap).

use std::io::{BufRead, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::tasks::{self, BadLine, Task};

/// Most bytes of one input line (a task): room for a whole source file as a prefix, escaped.
pub const MAX_LINE_BYTES: usize = 16 << 20;

/// Most bytes skipped while looking for the end of an over-long line: past it, the input
/// is not JSON Lines (`/dev/zero`, a binary file) and reading it ends with an error.
pub const MAX_LINE_SKIP: u64 = 1 << 30;

/// Most bytes of a `file` task's file: what a source file may hold
/// ([`crate::text::decode_source`] refuses more).
pub const MAX_FILE_BYTES: u64 = crate::text::MAX_SOURCE_BYTES as u64;

/// A batch's input lines: each one's text, or why it could not be read (over the cap, not
/// UTF-8).
#[derive(Debug, Default)]
pub struct Input {
    lines: Vec<Result<String, String>>,
}

impl Input {
    /// Input given as text (tests, callers that already hold it).
    pub fn from_text(text: &str) -> Input {
        Input {
            lines: text.lines().map(|l| Ok(l.to_string())).collect(),
        }
    }

    /// Reads JSON Lines from `reader`, at most [`MAX_LINE_BYTES`] a line.
    pub fn read(reader: impl BufRead) -> Result<Input> {
        Self::read_capped(reader, MAX_LINE_BYTES, MAX_LINE_SKIP)
    }

    fn read_capped(mut reader: impl BufRead, max_line: usize, max_skip: u64) -> Result<Input> {
        let mut lines = Vec::new();
        let mut buf = Vec::new();
        loop {
            let number = lines.len() + 1;
            buf.clear();
            let n = (&mut reader)
                .take(max_line as u64 + 1)
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("read input line {number}"))?;
            if n == 0 {
                break;
            }
            let ended = buf.last() == Some(&b'\n');
            if ended {
                buf.pop();
                if buf.last() == Some(&b'\r') {
                    buf.pop();
                }
            } else if buf.len() > max_line {
                if !skip_line(&mut reader, max_skip)
                    .with_context(|| format!("read input line {number}"))?
                {
                    bail!(
                        "input line {number} has no line break in its first {} bytes: the \
                         input is not JSON Lines",
                        max_line as u64 + max_skip
                    );
                }
                lines.push(Err(format!(
                    "the line is longer than {max_line} bytes, the most a task may have"
                )));
                continue;
            }
            lines.push(
                String::from_utf8(std::mem::take(&mut buf))
                    .map_err(|_| "the line is not UTF-8 text".to_string()),
            );
        }
        Ok(Input { lines })
    }

    /// The tasks, and the lines that are not tasks.
    pub fn tasks(&self) -> (Vec<Task>, Vec<BadLine>) {
        tasks::parse_lines(
            self.lines
                .iter()
                .map(|l| l.as_deref().map_err(String::as_str)),
        )
    }
}

/// Reads and drops the rest of a line, up to and including its line break (or the end of
/// the input). False when no line break came in `max` bytes.
fn skip_line(reader: &mut impl BufRead, max: u64) -> std::io::Result<bool> {
    let mut skipped = 0u64;
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(true);
        }
        if let Some(i) = available.iter().position(|&b| b == b'\n') {
            reader.consume(i + 1);
            return Ok(true);
        }
        let n = available.len();
        reader.consume(n);
        skipped += n as u64;
        if skipped > max {
            return Ok(false);
        }
    }
}

/// The text of a `file` task's file: a regular file (a FIFO would block the run forever,
/// a device such as `/dev/zero` never ends) of at most [`MAX_FILE_BYTES`], decoded as a
/// source file. The error says why not.
pub fn read_task_file(path: &Path) -> Result<String, String> {
    crate::regular_file::read_source(path).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &Input) -> Vec<Result<&str, &str>> {
        input
            .lines
            .iter()
            .map(|l| l.as_deref().map_err(String::as_str))
            .collect()
    }

    #[test]
    fn over_long_lines_become_errors_and_the_rest_is_read() {
        let text = b"short\r\nthis line is far too long\nok\n\xff\xfe\nlast";
        let input = Input::read_capped(&text[..], 8, 1 << 20).unwrap();
        let got = lines(&input);
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], Ok("short"));
        assert!(got[1].unwrap_err().contains("longer than 8 bytes"));
        assert_eq!(got[2], Ok("ok"));
        assert!(got[3].unwrap_err().contains("not UTF-8"));
        assert_eq!(got[4], Ok("last"));
        // A line of exactly the cap is whole, with or without its line break.
        let input = Input::read_capped(&b"12345678\n12345678"[..], 8, 1 << 20).unwrap();
        assert_eq!(lines(&input), [Ok("12345678"), Ok("12345678")]);
        let input = Input::read_capped(&b"123456789"[..], 8, 1 << 20).unwrap();
        assert!(lines(&input)[0].is_err());
    }

    #[test]
    fn an_endless_line_ends_the_read_instead_of_memory() {
        // `/dev/zero` as input: no line break ever comes.
        let err = Input::read_capped(std::io::BufReader::new(std::io::repeat(0)), 1024, 1 << 20)
            .unwrap_err();
        assert!(err.to_string().contains("no line break"), "{err}");
    }

    #[test]
    fn bad_lines_keep_their_line_numbers() {
        let text = "{\"id\": \"a\", \"prefix\": \"x\"}\n{\"id\": \"b\", \"prefix\": \"a very long prefix indeed\"}\n\n{\"id\": \"c\", \"prefix\": \"y\"}\n";
        let input = Input::read_capped(text.as_bytes(), 40, 1 << 20).unwrap();
        let (tasks, bad) = input.tasks();
        let ids: Vec<(usize, &str)> = tasks.iter().map(|t| (t.line, t.id.as_str())).collect();
        assert_eq!(ids, [(1, "a"), (4, "c")]);
        assert_eq!(bad.len(), 1);
        assert_eq!((bad[0].line, bad[0].id.as_deref()), (2, None));
        assert!(bad[0].error.contains("longer than 40 bytes"));
    }

    #[test]
    fn task_files_must_be_regular_and_not_too_big() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("a.py");
        std::fs::write(&ok, "x = 1\n").unwrap();
        assert_eq!(read_task_file(&ok).unwrap(), "x = 1\n");
        let big = dir.path().join("big.py");
        std::fs::write(&big, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        assert!(read_task_file(&big).unwrap_err().contains("larger than"));
        assert!(
            read_task_file(dir.path())
                .unwrap_err()
                .contains("directory")
        );
        #[cfg(unix)]
        assert!(
            read_task_file(Path::new("/dev/zero"))
                .unwrap_err()
                .contains("not a regular file")
        );
    }
}
