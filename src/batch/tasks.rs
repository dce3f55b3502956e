//! Batch input: one JSON object per line, each a task with a unique `"id"`.

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::Value;

use crate::lang::Language;

/// What a task asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// The text between `prefix` and `suffix`, post-processed like an inline completion.
    Fim {
        prefix: String,
        suffix: String,
        language: Option<Language>,
        path: Option<String>,
    },
    /// Code written from an instruction; the answer's code only.
    Instruction {
        instruction: String,
        language: Option<Language>,
        context: Option<String>,
    },
    /// A file whose `quill: fill` holes are filled; the whole file is the result.
    File { path: PathBuf },
}

/// A parsed input line.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// 1-based line of the input.
    pub line: usize,
    pub id: String,
    pub kind: Kind,
}

/// A line that could not become a task.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: usize,
    /// The id when the line had a usable one.
    pub id: Option<String>,
    pub error: String,
}

fn str_field(obj: &serde_json::Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("\"{key}\" must be a string, not {other}")),
    }
}

fn language(
    obj: &serde_json::Map<String, Value>,
    path: Option<&str>,
) -> Result<Option<Language>, String> {
    // A language quill has no rules for is no error: the task gets plain
    // fill-in-the-middle, as an unknown file does in the editor.
    Ok(match str_field(obj, "language")? {
        Some(l) => Language::from_name(&l),
        None => path.and_then(|p| Language::from_path(std::path::Path::new(p))),
    })
}

/// Parses input `text` (JSON Lines). Blank lines are skipped; every other line becomes a
/// task or a [`BadLine`] (invalid JSON, no id, a duplicate id, an unknown kind).
pub fn parse(text: &str) -> (Vec<Task>, Vec<BadLine>) {
    parse_lines(text.lines().map(Ok))
}

/// [`parse`] over lines as read: a line that could not be read (`Err`, saying why; see
/// `input`) becomes a [`BadLine`] too.
pub fn parse_lines<'a>(
    lines: impl IntoIterator<Item = Result<&'a str, &'a str>>,
) -> (Vec<Task>, Vec<BadLine>) {
    let mut tasks = Vec::new();
    let mut bad = Vec::new();
    let mut seen = HashSet::new();
    for (i, raw) in lines.into_iter().enumerate() {
        let line = i + 1;
        let raw = match raw {
            Ok(raw) => raw,
            Err(error) => {
                bad.push(BadLine {
                    line,
                    id: None,
                    error: error.to_string(),
                });
                continue;
            }
        };
        if raw.trim().is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                bad.push(BadLine {
                    line,
                    id: None,
                    error: format!("invalid JSON: {e}"),
                });
                continue;
            }
        };
        let Some(obj) = v.as_object() else {
            bad.push(BadLine {
                line,
                id: None,
                error: "a task must be a JSON object".into(),
            });
            continue;
        };
        let id = match obj.get("id") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                bad.push(BadLine {
                    line,
                    id: None,
                    error: "missing \"id\" (a non-empty string)".into(),
                });
                continue;
            }
        };
        if !seen.insert(id.clone()) {
            bad.push(BadLine {
                line,
                id: Some(id.clone()),
                error: format!("duplicate id {id:?}"),
            });
            continue;
        }
        match kind(obj) {
            Ok(kind) => tasks.push(Task { line, id, kind }),
            Err(error) => bad.push(BadLine {
                line,
                id: Some(id),
                error,
            }),
        }
    }
    (tasks, bad)
}

fn kind(obj: &serde_json::Map<String, Value>) -> Result<Kind, String> {
    let has = |k: &str| obj.contains_key(k);
    if has("prefix") || has("suffix") {
        let path = str_field(obj, "path")?;
        return Ok(Kind::Fim {
            prefix: str_field(obj, "prefix")?
                .ok_or("a fill-in-the-middle task needs \"prefix\"")?,
            suffix: str_field(obj, "suffix")?.unwrap_or_default(),
            language: language(obj, path.as_deref())?,
            path,
        });
    }
    if has("instruction") {
        return Ok(Kind::Instruction {
            instruction: str_field(obj, "instruction")?.ok_or("\"instruction\" is empty")?,
            language: language(obj, None)?,
            context: str_field(obj, "context")?,
        });
    }
    if has("file") {
        let path = str_field(obj, "file")?.ok_or("\"file\" is empty")?;
        return Ok(Kind::File {
            path: PathBuf::from(path),
        });
    }
    Err("unknown kind of task: give \"prefix\"/\"suffix\", \"instruction\" or \"file\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_and_every_bad_line() {
        let input = r#"{"id": "a", "prefix": "def f():\n    ", "suffix": "\n", "language": "python"}
{"id": "b", "instruction": "reverse a string", "language": "rust"}
{"id": "c", "file": "src/x.py"}

not json
{"prefix": "x"}
{"id": "a", "prefix": "dup"}
{"id": "d", "what": 1}
{"id": "e", "prefix": "x", "language": "cobol"}
[1, 2]
{"id": 7, "prefix": "p", "path": "m.go"}"#;
        let (tasks, bad) = parse(input);
        let ids: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c", "e", "7"]);
        assert!(matches!(
            tasks[0].kind,
            Kind::Fim {
                language: Some(Language::Python),
                ..
            }
        ));
        // A language without rules: plain fill-in-the-middle, no error.
        assert!(matches!(tasks[3].kind, Kind::Fim { language: None, .. }));
        assert!(matches!(
            tasks[4].kind,
            Kind::Fim {
                language: Some(Language::Go),
                ..
            }
        ));
        let errs: Vec<(usize, &str)> = bad.iter().map(|b| (b.line, b.error.as_str())).collect();
        assert_eq!(errs.len(), 5, "{errs:?}");
        assert!(errs[0].1.starts_with("invalid JSON") && errs[0].0 == 5);
        assert!(errs[1].1.contains("missing \"id\""));
        assert!(errs[2].1.contains("duplicate id"));
        assert!(errs[3].1.contains("unknown kind"));
        assert!(errs[4].1.contains("JSON object"));
    }
}
