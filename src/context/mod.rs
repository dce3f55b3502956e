//! Context from the workspace: code from other files that the model should see before the
//! current one.
//!
//! From tree-sitter over the open documents (and files near the current one on disk):
//! - definitions (signatures, and bodies where small) of the names used near the cursor
//!   that other files define;
//! - snippets from recently edited or viewed files that look like the code around the
//!   cursor (identifier overlap).
//!
//! Building context never fails: a file that cannot be parsed, an unknown language or an
//! exhausted budget means less context, not an error. The output is sorted by path so that
//! it stays the same from keystroke to keystroke and the KV cache keeps it.

mod render;
pub mod symbols;

use std::collections::{BTreeMap, HashMap, HashSet};

use tree_sitter::Tree;

use crate::lang::Language;
use crate::tokenizer::CountTokens;
use render::{outline_line, render_definition};
use symbols::{definitions, identifiers, imports, imports_whole, module_name};

/// A piece of another file shown to the model before the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Path relative to the workspace, as the model sees it.
    pub path: String,
    pub text: String,
}

/// A file the context may draw from.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Path relative to the workspace root, as the model will see it.
    pub path: &'a str,
    pub text: &'a str,
    pub language: Option<Language>,
    pub tree: Option<&'a Tree>,
    /// Higher is more recently edited or viewed; 0 for files only found on disk.
    pub recency: u64,
}

/// Other files larger than this are not used as context: a generated or minified file of
/// megabytes would cost a definitions query and a similarity scan on every context build.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// At most this many other files are looked at, the first ones given (callers pass the
/// most recently touched first): a session with hundreds of open files must not query them
/// all.
pub const MAX_SOURCES: usize = 64;

/// Tuning for [`build`].
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Token budget for everything returned.
    pub budget: usize,
    /// Other files over this many bytes are left out ([`MAX_SOURCE_BYTES`]).
    pub max_source_bytes: usize,
    /// How many other files are looked at, the first ones given ([`MAX_SOURCES`]).
    pub max_sources: usize,
    /// Bytes around the cursor whose identifiers are looked up.
    pub window_before: usize,
    pub window_after: usize,
    /// A definition up to this many lines is shown whole; longer ones by signature.
    pub max_body_lines: usize,
    /// A class (struct, enum, trait) too long to show whole is shown as its members' outline
    /// (fields, method signatures) rather than its header alone.
    pub members: bool,
    /// Snippets compared for similarity are this many lines long.
    pub snippet_lines: usize,
    /// Least identifier overlap (Jaccard) for a snippet to be shown.
    pub min_similarity: f32,
    pub max_snippets: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            budget: 1024,
            max_source_bytes: MAX_SOURCE_BYTES,
            max_sources: MAX_SOURCES,
            window_before: 2000,
            window_after: 400,
            max_body_lines: 12,
            members: true,
            snippet_lines: 12,
            min_similarity: 0.25,
            max_snippets: 2,
        }
    }
}

/// One piece of context before it is grouped by file.
#[derive(Debug, Clone)]
struct Excerpt {
    path: String,
    /// Byte offset in its file, to keep pieces in source order.
    start: usize,
    text: String,
}

/// True when `other` can be context for `current`: a file of the same language family
/// (JavaScript and TypeScript, C and C++), or, where neither language is known, of the
/// same extension. Code of another language leads the model into that language.
fn related(current: &Source<'_>, other: &Source<'_>) -> bool {
    let ext = |p: &str| {
        std::path::Path::new(p)
            .extension()
            .map(|e| e.to_ascii_lowercase())
    };
    Language::same_family(current.language, other.language)
        && (current.language.is_some() || ext(current.path) == ext(other.path))
}

/// The context files for a completion at `offset` of `current`, most useful first within
/// the budget, then sorted by path.
pub fn build(
    current: &Source<'_>,
    offset: usize,
    others: &[Source<'_>],
    opts: &Options,
    counter: &dyn CountTokens,
) -> Vec<ContextFile> {
    // The sources worth looking at: not the current file, none too large, a bounded
    // number of them.
    let others: Vec<&Source<'_>> = others
        .iter()
        .filter(|s| s.path != current.path && s.text.len() <= opts.max_source_bytes)
        .filter(|s| related(current, s))
        .take(opts.max_sources)
        .collect();
    if opts.budget == 0 || others.is_empty() {
        return Vec::new();
    }
    let lo = floor_char(current.text, offset.saturating_sub(opts.window_before));
    let hi = floor_char(
        current.text,
        (offset + opts.window_after).min(current.text.len()),
    );
    let statements = match (current.language, current.tree) {
        (Some(lang), Some(tree)) => imports(lang, tree, current.text),
        _ => Vec::new(),
    };
    // Names near the cursor, leaving out import statements: an import says where a name
    // comes from (see `import_ids`), not that the code at the cursor uses it.
    let mut near = current.text[lo..hi].to_string();
    for (start, text) in &statements {
        let (a, b) = (*start, start + text.len());
        if a >= lo && b <= hi {
            near.replace_range(a - lo..b - lo, &" ".repeat(b - a));
        }
    }
    let wanted = identifiers(&near);
    // Names the current file defines itself need no context.
    let own: HashSet<String> = match (current.language, current.tree) {
        (Some(lang), Some(tree)) => definitions(lang, tree, current.text)
            .into_iter()
            .map(|d| d.name)
            .collect(),
        _ => HashSet::new(),
    };

    // The identifiers of each import statement: a name imported from another file's module
    // may be needed at the cursor before it is used near it.
    let import_ids: Vec<HashSet<String>> = statements
        .iter()
        .map(|(_, text)| identifiers(text).into_keys().collect())
        .collect();

    let mut candidates: Vec<(f32, Excerpt)> = Vec::new();
    for src in &others {
        let (Some(lang), Some(tree)) = (src.language, src.tree) else {
            continue;
        };
        let module = module_name(src.path);
        // Whether the current file can name this file's top-level definitions: it imports
        // the module, qualifies names with it (`helpers.f`, `helpers::f`), or the language
        // shares names between the files of a folder (Go's packages, Java's and C#'s;
        // Rust's `use super::*` and crate paths are too varied to tell).
        let imported = import_ids.iter().any(|ids| ids.contains(&module));
        let qualified = wanted.contains_key(&module);
        let whole = statements
            .iter()
            .any(|(_, stmt)| imports_whole(lang, stmt, &module));
        let reachable = imported || qualified || lang.spec().folder_shares_names;
        for def in definitions(lang, tree, src.text) {
            // Local to a function, a dunder method every class has, a name the current
            // file defines itself: never what the cursor needs from elsewhere.
            if def.local
                || own.contains(&def.name)
                || def.name.len() < 2
                || (def.name.starts_with("__") && def.name.ends_with("__"))
            {
                continue;
            }
            // Used near the cursor and reachable first (more uses, higher), then members
            // used near the cursor (`obj.name`), then names imported from this file's
            // module before their first use, then the outline (signatures) of an imported
            // module: the name the cursor needs may be any of its top-level ones. A
            // recently touched file breaks ties.
            let (score, outline) = match wanted.get(&def.name) {
                Some(uses) if !def.member && reachable => (20.0 + *uses as f32, false),
                Some(uses) if def.member => (10.0 + *uses as f32, false),
                // A top-level name of a file the current one cannot reach: a namesake.
                Some(_) => continue,
                None if import_ids
                    .iter()
                    .any(|ids| ids.contains(&def.name) && ids.contains(&module)) =>
                {
                    (5.0, false)
                }
                None if imported && (whole || qualified) && !def.member => {
                    (if qualified { 3.0 } else { 2.0 }, true)
                }
                None => continue,
            };
            let score = score + (src.recency.min(100) as f32) / 100.0;
            let text = if outline {
                outline_line(lang, &def)
            } else {
                render_definition(
                    lang,
                    tree,
                    &def,
                    src.text,
                    opts.max_body_lines,
                    opts.members,
                )
            };
            candidates.push((
                score,
                Excerpt {
                    path: src.path.to_string(),
                    start: def.start,
                    text,
                },
            ));
        }
    }
    // A definition inside another selected one (a method of a class shown whole) is
    // already there.
    dedup_nested(&mut candidates);

    let query = tail_lines(&current.text[..offset], opts.snippet_lines * 2);
    let query_ids: HashSet<String> = identifiers(query).into_keys().collect();
    if query_ids.len() >= 3 {
        let mut snippets: Vec<(f32, Excerpt)> = Vec::new();
        for src in others.iter().filter(|s| s.recency > 0) {
            snippets.extend(similar_snippets(src, &query_ids, opts));
        }
        snippets.sort_by(|a, b| b.0.total_cmp(&a.0));
        candidates.extend(snippets.into_iter().take(opts.max_snippets));
    }

    candidates.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut chosen: Vec<Excerpt> = Vec::new();
    let mut used = 0;
    for (_, piece) in candidates {
        if chosen
            .iter()
            .any(|c| c.path == piece.path && overlaps(c, &piece))
        {
            continue;
        }
        let cost = counter.count(&piece.text) + 1;
        // The first piece of a file also costs its header line.
        let header = if chosen.iter().any(|c| c.path == piece.path) {
            0
        } else {
            counter.count(&piece.path) + 2
        };
        if used + cost + header > opts.budget {
            continue;
        }
        used += cost + header;
        chosen.push(piece);
    }
    group(chosen)
}

/// What the model needs from above a cut prefix that starts at `window_start`: the
/// file's imports and the headers of the scopes (class, function) the cursor is in, each
/// only when it lies above the window. Empty when nothing is cut away.
pub fn preamble(
    lang: Language,
    tree: &Tree,
    text: &str,
    window_start: usize,
    cursor: usize,
) -> String {
    if window_start == 0 {
        return String::new();
    }
    let mut out = String::new();
    for (start, import) in symbols::imports(lang, tree, text) {
        if start < window_start {
            out.push_str(&import);
            out.push('\n');
        }
    }
    let mut first_header = true;
    for scope in crate::syntax::scopes_at(lang, tree, text, cursor, cursor) {
        if scope.start_byte() >= window_start {
            break;
        }
        let header = symbols::header(lang, scope, text);
        if !header.is_empty() {
            if first_header && !out.is_empty() {
                out.push('\n');
            }
            first_header = false;
            out.push_str(&header);
            out.push('\n');
        }
    }
    out
}

fn overlaps(a: &Excerpt, b: &Excerpt) -> bool {
    let (a0, a1) = (a.start, a.start + a.text.len());
    let (b0, b1) = (b.start, b.start + b.text.len());
    a0 < b1 && b0 < a1
}

fn dedup_nested(candidates: &mut Vec<(f32, Excerpt)>) {
    let snapshot: Vec<Excerpt> = candidates.iter().map(|(_, p)| p.clone()).collect();
    candidates.retain(|(_, p)| {
        !snapshot.iter().any(|o| {
            o.path == p.path
                && o.start <= p.start
                && o.text.len() > p.text.len()
                && o.text.contains(p.text.as_str())
        })
    });
}

/// Groups pieces into one context file per path, pieces in source order, files by path.
fn group(pieces: Vec<Excerpt>) -> Vec<ContextFile> {
    let mut by_path: BTreeMap<String, Vec<Excerpt>> = BTreeMap::new();
    for p in pieces {
        by_path.entry(p.path.clone()).or_default().push(p);
    }
    by_path
        .into_iter()
        .map(|(path, mut pieces)| {
            pieces.sort_by_key(|p| p.start);
            // One-line pieces (constants, outline entries) read as consecutive lines;
            // anything longer is set off by a blank line.
            let mut text = String::new();
            let mut prev_multi = false;
            for p in &pieces {
                let t = p.text.trim_end();
                let multi = t.contains('\n');
                if !text.is_empty() {
                    text.push_str(if multi || prev_multi { "\n\n" } else { "\n" });
                }
                text.push_str(t);
                prev_multi = multi;
            }
            ContextFile { path, text }
        })
        .collect()
}

/// Windows of `opts.snippet_lines` lines of `src` whose identifiers overlap the query's.
fn similar_snippets(
    src: &Source<'_>,
    query: &HashSet<String>,
    opts: &Options,
) -> Vec<(f32, Excerpt)> {
    let lines: Vec<(usize, &str)> = src
        .text
        .split_inclusive('\n')
        .scan(0usize, |pos, l| {
            let start = *pos;
            *pos += l.len();
            Some((start, l))
        })
        .collect();
    let n = opts.snippet_lines.max(2);
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let end = (i + n).min(lines.len());
        let start = lines[i].0;
        let text: String = lines[i..end].iter().map(|(_, l)| *l).collect();
        let ids: HashSet<String> = identifiers(&text).into_keys().collect();
        let inter = ids.intersection(query).count();
        let union = ids.union(query).count().max(1);
        let score = inter as f32 / union as f32;
        if score >= opts.min_similarity {
            out.push((
                score + (src.recency.min(100) as f32) / 1000.0,
                Excerpt {
                    path: src.path.to_string(),
                    start,
                    text,
                },
            ));
        }
        i += n / 2;
    }
    out
}

fn tail_lines(text: &str, n: usize) -> &str {
    let mut start = text.len();
    for _ in 0..n {
        match text[..start.saturating_sub(1)].rfind('\n') {
            Some(i) if start > 0 => start = i + 1,
            _ => return text,
        }
    }
    &text[start..]
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Counts of identifiers, keyed by name (re-exported for callers that rank by use).
pub type Uses = HashMap<String, usize>;

#[cfg(test)]
mod tests;
