//! Fill-in-the-middle tasks from source files, sampled deterministically by seed.
//!
//! Kinds: a whole line masked (cursor at its indentation, the line left empty), the same
//! line removed with its line break (cursor at column 0 of the next line: the shape of
//! single-line infilling benchmarks; the answer is the line with its indentation and line
//! break), the rest of a line masked
//! (cursor mid-line), a function body masked (cursor on an empty line at the body's
//! indentation), and cross-file tasks: the first use of a name another file of the same
//! package defines and this one imports (used nowhere else in the file, so it cannot be
//! copied from there), cursor right before the name, the rest of the line masked, and that
//! package's other files given as open documents.

use std::collections::{HashMap, HashSet};

use tree_sitter::{Node, Tree};

use super::Rng;
use crate::context::symbols::{definitions, identifier_spans, identifiers, imports, module_name};
use crate::lang::Language;

/// Serialized as its name on the command line (`cross-file`), in every JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    Line,
    Remainder,
    Block,
    CrossFile,
    WholeLine,
}

impl TaskKind {
    pub const ALL: [TaskKind; 5] = [
        TaskKind::Line,
        TaskKind::WholeLine,
        TaskKind::Remainder,
        TaskKind::Block,
        TaskKind::CrossFile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Line => "line",
            TaskKind::Remainder => "remainder",
            TaskKind::Block => "block",
            TaskKind::CrossFile => "cross-file",
            TaskKind::WholeLine => "whole-line",
        }
    }

    pub fn from_name(s: &str) -> Option<TaskKind> {
        TaskKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// The most tasks of one kind cut from one file.
const MAX_PER_FILE: usize = 3;

/// A source file tasks are made from.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Path as the model sees it (relative to its tree's root).
    pub path: String,
    pub text: String,
    /// Files in the same group (package folder) are each other's context.
    pub group: String,
}

/// One task: complete `text` at `offset`; the right answer is `expected`.
#[derive(Debug, Clone)]
pub struct EvalTask {
    pub id: String,
    pub kind: TaskKind,
    pub language: Language,
    /// Index of the file the task was cut from.
    pub file: usize,
    pub path: String,
    pub text: String,
    pub offset: usize,
    pub expected: String,
    /// Indices of the files given as open documents (cross-file tasks).
    pub others: Vec<usize>,
}

/// Tasks with the files they came from.
#[derive(Debug, Clone)]
pub struct TaskSet {
    pub files: Vec<SourceFile>,
    pub tasks: Vec<EvalTask>,
}

impl TaskSet {
    /// Adds `other`'s files and tasks (their file indices moved past this set's files).
    pub fn append(&mut self, other: TaskSet) {
        let base = self.files.len();
        self.files.extend(other.files);
        self.tasks.extend(other.tasks.into_iter().map(|mut t| {
            t.file += base;
            t.others.iter_mut().for_each(|o| *o += base);
            t
        }));
    }
}

struct Parsed<'a> {
    file: &'a SourceFile,
    tree: Tree,
    /// (start, end) of each line without its line break.
    lines: Vec<(usize, usize)>,
}

fn lines_of(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for l in text.split_inclusive('\n') {
        let body = l.trim_end_matches(['\n', '\r']);
        out.push((start, start + body.len()));
        start += l.len();
    }
    out
}

/// True when the line starting at `at` sits inside a string or comment (a docstring line).
fn in_string_or_comment(tree: &Tree, at: usize) -> bool {
    let mut n = tree.root_node().descendant_for_byte_range(at, at + 1);
    while let Some(node) = n {
        let k = node.kind();
        if k.contains("string") || k.contains("comment") {
            return true;
        }
        n = node.parent();
    }
    false
}

/// A line worth masking: real code of a reasonable length.
fn good_line(
    lang: Language,
    tree: &Tree,
    text: &str,
    (start, end): (usize, usize),
) -> Option<usize> {
    let line = &text[start..end];
    let content = line.trim();
    let indent = line.len() - line.trim_start().len();
    if content.len() < 8 || content.len() > 100 || lang.is_comment(content) {
        return None;
    }
    if content.starts_with('@') || !content.is_ascii() {
        return None;
    }
    if in_string_or_comment(tree, start + indent) {
        return None;
    }
    Some(indent)
}

/// Builds up to `per_kind` tasks of each of `kinds` from `files`, deterministically.
pub fn build_tasks(
    files: Vec<SourceFile>,
    lang: Language,
    kinds: &[TaskKind],
    per_kind: usize,
    seed: u64,
) -> TaskSet {
    let mut files = files;
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let parsed: Vec<Option<Parsed<'_>>> = files
        .iter()
        .map(|f| {
            let tree = crate::syntax::parse(lang, &f.text, None)?;
            // Files that do not parse cleanly make tasks whose answers are unclear.
            (crate::syntax::error_count(tree.root_node()) == 0).then(|| Parsed {
                file: f,
                lines: lines_of(&f.text),
                tree,
            })
        })
        .collect();
    let mut tasks = Vec::new();
    for &kind in kinds {
        // Whole-line tasks are the line tasks' lines, in the other shape.
        let like = if kind == TaskKind::WholeLine {
            TaskKind::Line
        } else {
            kind
        };
        let mut rng = Rng::new(seed.wrapping_add(like as u64 * 1_000_003));
        let mut candidates = match kind {
            TaskKind::Line => line_tasks(lang, &parsed, false),
            TaskKind::WholeLine => whole_line_tasks(lang, &parsed),
            TaskKind::Remainder => line_tasks(lang, &parsed, true),
            TaskKind::Block => block_tasks(lang, &parsed),
            TaskKind::CrossFile => cross_file_tasks(lang, &parsed),
        };
        rng.shuffle(&mut candidates);
        // A few tasks per file at most: one file full of similar lines (a table of
        // aliases) would otherwise decide the score.
        let mut per_file: HashMap<usize, usize> = HashMap::new();
        candidates.retain(|t| {
            let n = per_file.entry(t.file).or_default();
            *n += 1;
            *n <= MAX_PER_FILE
        });
        // A remainder's cut point is drawn after shuffling, so the same seed gives the
        // same cut whatever the number of candidates.
        for mut t in candidates.into_iter().take(per_kind) {
            if kind == TaskKind::Remainder {
                cut_remainder(&mut t, &mut rng);
            }
            tasks.push(t);
        }
    }
    drop(parsed);
    TaskSet { files, tasks }
}

/// A task of kind `kind` from the file `p` (index `fi`): the bytes `at..end` are masked and
/// are the answer, the cursor is at `at`. Its id is the kind's name, the path and the 1-based
/// number of the 0-based line `line`.
fn masked(
    kind: TaskKind,
    lang: Language,
    fi: usize,
    p: &Parsed<'_>,
    line: usize,
    (at, end): (usize, usize),
) -> EvalTask {
    let text = &p.file.text;
    EvalTask {
        id: format!("{}:{}:{}", kind.name(), p.file.path, line + 1),
        kind,
        language: lang,
        file: fi,
        path: p.file.path.clone(),
        text: format!("{}{}", &text[..at], &text[end..]),
        offset: at,
        expected: text[at..end].to_string(),
        others: Vec::new(),
    }
}

fn line_tasks(lang: Language, parsed: &[Option<Parsed<'_>>], remainder: bool) -> Vec<EvalTask> {
    let kind = if remainder {
        TaskKind::Remainder
    } else {
        TaskKind::Line
    };
    let mut out = Vec::new();
    for (fi, p) in parsed.iter().enumerate() {
        let Some(p) = p else { continue };
        for (li, &(start, end)) in p.lines.iter().enumerate() {
            let Some(indent) = good_line(lang, &p.tree, &p.file.text, (start, end)) else {
                continue;
            };
            out.push(masked(kind, lang, fi, p, li, (start + indent, end)));
        }
    }
    out
}

/// The line tasks' lines removed whole: the cursor at column 0 of the line after, the
/// answer the line with its indentation and line break.
fn whole_line_tasks(lang: Language, parsed: &[Option<Parsed<'_>>]) -> Vec<EvalTask> {
    let mut out = Vec::new();
    for (fi, p) in parsed.iter().enumerate() {
        let Some(p) = p else { continue };
        let text = &p.file.text;
        for (li, &(start, end)) in p.lines.iter().enumerate() {
            if good_line(lang, &p.tree, text, (start, end)).is_none() {
                continue;
            }
            let next = p.lines.get(li + 1).map_or(text.len(), |l| l.0);
            out.push(masked(TaskKind::WholeLine, lang, fi, p, li, (start, next)));
        }
    }
    out
}

/// Moves a whole-line task's cursor to a word boundary inside the line: the code before it
/// is given, the rest is to be completed.
fn cut_remainder(t: &mut EvalTask, rng: &mut Rng) {
    let content = t.expected.clone();
    let cuts: Vec<usize> = content
        .char_indices()
        .filter(|&(i, c)| {
            i >= content.len() / 4
                && i + 3 <= content.len()
                && (c == ' ' || c == '(' || c == '.' || c == '=' || c == ',')
        })
        .map(|(i, c)| if c == ' ' { i + 1 } else { i + c.len_utf8() })
        .collect();
    if cuts.is_empty() {
        return;
    }
    let cut = cuts[rng.below(cuts.len())];
    let head = &content[..cut];
    let mut text = String::with_capacity(t.text.len() + head.len());
    text.push_str(&t.text[..t.offset]);
    text.push_str(head);
    text.push_str(&t.text[t.offset..]);
    t.text = text;
    t.offset += head.len();
    t.expected = content[cut..].to_string();
}

/// The body node of a function definition, for the languages' function kinds.
fn function_body<'t>(node: Node<'t>) -> Option<Node<'t>> {
    matches!(
        node.kind(),
        "function_definition"
            | "function_item"
            | "function_declaration"
            | "method_definition"
            | "method_declaration"
    )
    .then(|| node.child_by_field_name("body"))
    .flatten()
}

fn block_tasks(lang: Language, parsed: &[Option<Parsed<'_>>]) -> Vec<EvalTask> {
    let mut out = Vec::new();
    for (fi, p) in parsed.iter().enumerate() {
        let Some(p) = p else { continue };
        let text = &p.file.text;
        let mut stack = vec![p.tree.root_node()];
        while let Some(node) = stack.pop() {
            let mut walk = node.walk();
            stack.extend(node.named_children(&mut walk));
            let Some(body) = function_body(node) else {
                continue;
            };
            let first_row = body.start_position().row;
            let last_row = body.end_position().row;
            // Masked lines: the body's lines; for brace languages, those between the braces.
            let (mut from, to) = if lang == Language::Python {
                (first_row, last_row)
            } else {
                (first_row + 1, last_row.saturating_sub(1))
            };
            if lang == Language::Python {
                // Keep a docstring: the user has written the signature and what it does.
                let mut w = body.walk();
                if let Some(first) = body.named_children(&mut w).next()
                    && first.kind() == "expression_statement"
                    && first.named_child(0).is_some_and(|c| c.kind() == "string")
                {
                    from = first.end_position().row + 1;
                }
            }
            if to < from || to - from + 1 < 2 || to - from + 1 > 10 || to >= p.lines.len() {
                continue;
            }
            let (start, _) = p.lines[from];
            let (_, end) = p.lines[to];
            let first_line = &text[start..p.lines[from].1];
            let indent = first_line.len() - first_line.trim_start().len();
            if first_line.trim().is_empty() {
                continue;
            }
            let at = start + indent;
            out.push(masked(TaskKind::Block, lang, fi, p, from, (at, end)));
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

fn cross_file_tasks(lang: Language, parsed: &[Option<Parsed<'_>>]) -> Vec<EvalTask> {
    // Top-level names each file defines.
    let defined: Vec<HashSet<String>> = parsed
        .iter()
        .map(|p| match p {
            Some(p) => definitions(lang, &p.tree, &p.file.text)
                .into_iter()
                .filter(|d| d.kind == "function" || d.kind == "class" || d.kind == "type")
                .map(|d| d.name)
                .collect(),
            None => HashSet::new(),
        })
        .collect();
    let mut groups: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, p) in parsed.iter().enumerate() {
        if let Some(p) = p {
            groups.entry(p.file.group.as_str()).or_default().push(i);
        }
    }
    // The identifiers of each import statement of each file. A name another file defines
    // counts only when an import statement names that file's module and the name (or the
    // line calls it through the module): a common name such as `copy` defined in an
    // unrelated file of the same folder is a coincidence, not a dependency.
    let imported: Vec<Vec<HashSet<String>>> = parsed
        .iter()
        .map(|p| match p {
            Some(p) => imports(lang, &p.tree, &p.file.text)
                .iter()
                .map(|(_, text)| identifiers(text).into_keys().collect())
                .collect(),
            None => Vec::new(),
        })
        .collect();
    // Where each file's import statements lie: a line inside one (`    parse_header,` of
    // a multi-line import) names the helper; it does not recall it.
    let import_spans: Vec<Vec<(usize, usize)>> = parsed
        .iter()
        .map(|p| match p {
            Some(p) => imports(lang, &p.tree, &p.file.text)
                .iter()
                .map(|(start, text)| (*start, start + text.len()))
                .collect(),
            None => Vec::new(),
        })
        .collect();
    // How often each identifier occurs in a file's import statements: a name the rest of
    // the file uses too can be copied from there, and says nothing about context.
    let in_imports: Vec<HashMap<String, usize>> = parsed
        .iter()
        .map(|p| match p {
            Some(p) => imports(lang, &p.tree, &p.file.text)
                .iter()
                .flat_map(|(_, text)| identifiers(text))
                .fold(HashMap::new(), |mut acc, (k, n)| {
                    *acc.entry(k).or_default() += n;
                    acc
                }),
            None => HashMap::new(),
        })
        .collect();
    let module: Vec<String> = parsed
        .iter()
        .map(|p| {
            p.as_ref()
                .map(|p| module_name(&p.file.path))
                .unwrap_or_default()
        })
        .collect();
    let mut out = Vec::new();
    for task in line_tasks(lang, parsed, false) {
        let fi = task.file;
        let group = &groups[parsed[fi].as_ref().expect("parsed").file.group.as_str()];
        let others: Vec<usize> = group.iter().copied().filter(|&g| g != fi).collect();
        // The import line names the helper: that is not the name being recalled.
        if [
            "import ", "from ", "use ", "package ", "#include", "require(", "mod ", "pub mod ",
        ]
        .iter()
        .any(|k| task.expected.starts_with(k))
            || import_spans[fi]
                .iter()
                .any(|&(a, b)| task.offset < b && a < task.offset + task.expected.len().max(1))
        {
            continue;
        }
        // Only the first use: the name appears nowhere else in the file but its imports.
        let rest = identifiers(&task.text);
        let unseen = |name: &str| {
            rest.get(name).copied().unwrap_or(0) <= in_imports[fi].get(name).copied().unwrap_or(0)
        };
        let from_other = |name: &str| {
            name.len() > 3
                && unseen(name)
                && !defined[fi].contains(name)
                && others.iter().any(|&o| {
                    let m = &module[o];
                    defined[o].contains(name)
                        && imported[fi].iter().any(|ids| {
                            ids.contains(m)
                                && (ids.contains(name)
                                    || task.expected.contains(&format!("{m}.{name}"))
                                    || task.expected.contains(&format!("{m}::{name}")))
                        })
                })
        };
        // The cursor goes right before that name, as in CrossCodeEval: the line so far is
        // given, and the name with the rest of the line is to be completed. Masking the
        // whole line instead asks the model to guess that the line uses the name at all,
        // which no context can tell it.
        let assigned = |at: usize, name: &str| {
            let after = task.expected[at + name.len()..].trim_start();
            after.starts_with('=') && !after.starts_with("==")
        };
        let Some(cut) = identifier_spans(&task.expected)
            .into_iter()
            // A use: not `name = ...` (a namesake defined here, a class attribute), and
            // not a name the line before the cursor already shows.
            .find(|&(at, name)| {
                from_other(name)
                    && !assigned(at, name)
                    && !identifiers(&task.expected[..at]).contains_key(name)
            })
            .map(|(at, _)| at)
        else {
            continue;
        };
        // A name inside a string (`__all__ = ['name', ...]`) is not a use.
        let tree = &parsed[fi].as_ref().expect("parsed").tree;
        if in_string_or_comment(tree, task.offset + cut) {
            continue;
        }
        let head = &task.expected[..cut];
        let text = format!(
            "{}{head}{}",
            &task.text[..task.offset],
            &task.text[task.offset..]
        );
        out.push(EvalTask {
            id: task.id.replacen("line:", "cross-file:", 1),
            kind: TaskKind::CrossFile,
            offset: task.offset + cut,
            expected: task.expected[cut..].to_string(),
            text,
            others,
            ..task
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Vec<SourceFile> {
        let util = "def parse_header(line):\n    \"\"\"Split a header line.\"\"\"\n    name, _, value = line.partition(':')\n    return name.strip(), value.strip()\n";
        let main = "from util import parse_header\n\n\ndef read(lines):\n    result = {}\n    for line in lines:\n        name, value = parse_header(line)\n        result[name.lower()] = value\n    return result\n";
        vec![
            SourceFile {
                path: "pkg/util.py".into(),
                text: util.into(),
                group: "pkg".into(),
            },
            SourceFile {
                path: "pkg/main.py".into(),
                text: main.into(),
                group: "pkg".into(),
            },
        ]
    }

    #[test]
    fn same_seed_same_tasks() {
        let a = build_tasks(fixture(), Language::Python, &TaskKind::ALL, 5, 42);
        let b = build_tasks(fixture(), Language::Python, &TaskKind::ALL, 5, 42);
        let ids = |s: &TaskSet| {
            s.tasks
                .iter()
                .map(|t| (t.id.clone(), t.offset))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&a), ids(&b));
        assert!(!a.tasks.is_empty());
    }

    #[test]
    fn a_name_counts_as_cross_file_only_when_imported() {
        let file = |path: &str, text: &str| SourceFile {
            path: path.into(),
            text: text.into(),
            group: "pkg".into(),
        };
        let util = "def parse_header(line):\n    return line.partition(':')\n";
        // Uses a name util.py defines, but its own import says it comes from elsewhere.
        let alone = "from email import parse_header\n\n\ndef read(x):\n    value = parse_header(x)\n    return value\n";
        // Imports the module and calls through it.
        let by_module =
            "import util\n\n\ndef load(x):\n    value = util.parse_header(x)\n    return value\n";
        // A line inside a multi-line import names the helper; it does not recall it.
        let multi = "from util import (\n    parse_header,\n)\n\n\ndef c(z):\n    return z\n";
        // Imports the name, but uses it twice: either line can be copied from the other.
        let twice = "from util import parse_header\n\n\ndef a(x):\n    return parse_header(x)\n\n\ndef b(y):\n    return parse_header(y)\n";
        // Binds the name to a namesake on the left: what follows the cursor is in its line.
        let assign =
            "import util\n\n\nclass Reader:\n    parse_header = staticmethod(util.parse_header)\n";
        let files = vec![
            file("pkg/util.py", util),
            file("pkg/assign.py", assign),
            file("pkg/alone.py", alone),
            file("pkg/by_module.py", by_module),
            file("pkg/twice.py", twice),
            file("pkg/multi.py", multi),
        ];
        let set = build_tasks(files, Language::Python, &[TaskKind::CrossFile], 50, 1);
        let paths: Vec<&str> = set.tasks.iter().map(|t| t.path.as_str()).collect();
        assert_eq!(paths, ["pkg/by_module.py"]);
        // Called through the module: the cursor follows `util.`.
        assert_eq!(set.tasks[0].expected, "parse_header(x)");
        assert!(set.tasks[0].text[..set.tasks[0].offset].ends_with("value = util."));
        assert_eq!(module_name("pkg/__init__.py"), "pkg");
        assert_eq!(module_name("src/store/mod.rs"), "store");
    }

    #[test]
    fn no_file_gives_more_than_a_few_tasks_of_a_kind() {
        let table: String = (0..20)
            .map(|i| format!("NAME_{i} = value_{i} + 1\n"))
            .collect();
        let files = vec![SourceFile {
            path: "pkg/table.py".into(),
            text: table,
            group: "pkg".into(),
        }];
        let set = build_tasks(files, Language::Python, &[TaskKind::Line], 50, 1);
        assert_eq!(set.tasks.len(), MAX_PER_FILE);
    }

    #[test]
    fn whole_line_tasks_are_the_line_tasks_at_column_zero() {
        let set = build_tasks(
            fixture(),
            Language::Python,
            &[TaskKind::Line, TaskKind::WholeLine],
            50,
            1,
        );
        let of =
            |k: TaskKind| -> Vec<&EvalTask> { set.tasks.iter().filter(|t| t.kind == k).collect() };
        let (line, whole) = (of(TaskKind::Line), of(TaskKind::WholeLine));
        assert!(!line.is_empty());
        assert_eq!(line.len(), whole.len());
        for (l, w) in line.iter().zip(&whole) {
            assert_eq!(l.id.strip_prefix("line:"), w.id.strip_prefix("whole-line:"));
            // The line with its indentation and line break; the cursor at a line start
            // with the next line's code after it.
            assert_eq!(w.expected.trim(), l.expected);
            assert!(w.expected.ends_with('\n'));
            assert!(w.offset == 0 || w.text[..w.offset].ends_with('\n'));
        }
    }

    #[test]
    fn every_task_puts_its_answer_back_into_the_original() {
        let set = build_tasks(fixture(), Language::Python, &TaskKind::ALL, 50, 1);
        for t in &set.tasks {
            let restored = format!(
                "{}{}{}",
                &t.text[..t.offset],
                t.expected,
                &t.text[t.offset..]
            );
            assert_eq!(restored, set.files[t.file].text, "{}", t.id);
        }
    }

    #[test]
    fn kinds_are_what_they_say() {
        let set = build_tasks(fixture(), Language::Python, &TaskKind::ALL, 50, 3);
        let of = |k: TaskKind| set.tasks.iter().filter(|t| t.kind == k).collect::<Vec<_>>();
        // Docstrings and comments are never masked.
        assert!(
            of(TaskKind::Line)
                .iter()
                .all(|t| !t.expected.contains("Split a header"))
        );
        // The body after the docstring, and the whole body without one.
        let blocks: Vec<&str> = of(TaskKind::Block)
            .iter()
            .map(|t| t.expected.as_str())
            .collect();
        assert!(blocks.contains(
            &"name, _, value = line.partition(':')\n    return name.strip(), value.strip()"
        ));
        assert!(blocks.iter().any(|b| b.starts_with("result = {}")));
        // The cross-file task uses the other file's helper and lists it as context.
        let cross = of(TaskKind::CrossFile);
        assert_eq!(cross.len(), 1);
        assert_eq!(cross[0].expected, "parse_header(line)");
        assert!(cross[0].text[..cross[0].offset].ends_with("\n        name, value = "));
        assert_eq!(set.files[cross[0].others[0]].path, "pkg/util.py");
        // Remainders start mid-line.
        assert!(
            of(TaskKind::Remainder)
                .iter()
                .all(|t| !t.text[..t.offset].ends_with('\n'))
        );
    }
}
