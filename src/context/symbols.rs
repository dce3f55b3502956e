//! What a file defines and what code mentions, from tree-sitter queries under `grammars/`.

use std::collections::HashMap;

use tree_sitter::{QueryCursor, StreamingIterator, Tree};

use crate::lang::{Blocks, Language, QueryKind};

/// A named definition in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    pub name: String,
    /// `function`, `class`, `method`, … (the capture's suffix).
    pub kind: String,
    pub start: usize,
    pub end: usize,
    /// The definition up to its body, with the body elided (`...` / `{ ... }`).
    pub signature: String,
    /// Defined inside a function: no other file can name it.
    pub local: bool,
    /// Defined inside a class, `impl` or the like: other files reach it as an attribute
    /// (`obj.name`), not by its bare name.
    pub member: bool,
}

/// Definitions nested deeper than this many tree levels are not looked at. Real code's
/// members sit a handful of levels down; finding out where a definition sits costs a walk
/// up from it, and each step up (`Node::parent`) a walk down from the root, so thousands
/// of nested functions would cost minutes. Anything this deep is local to a function.
pub const MAX_DEFINITION_DEPTH: u32 = 64;

/// The definitions in `tree` (parsed from `text`), in source order.
pub fn definitions(lang: Language, tree: &Tree, text: &str) -> Vec<Definition> {
    let query = lang.query(QueryKind::Definitions);
    let names = query.capture_names();
    let mut cursor = QueryCursor::new();
    cursor.set_max_start_depth(Some(MAX_DEFINITION_DEPTH));
    let mut matches = cursor.matches(query, tree.root_node(), text.as_bytes());
    let mut out = Vec::new();
    while let Some(m) = matches.next() {
        let mut name = None;
        let mut def = None;
        for cap in m.captures() {
            let cap_name = names[cap.index as usize];
            if cap_name == "name" {
                name = cap.node.utf8_text(text.as_bytes()).ok();
            } else if let Some(kind) = cap_name.strip_prefix("definition.") {
                def = Some((kind, cap.node));
            }
        }
        let (Some(name), Some((kind, node))) = (name, def) else {
            continue;
        };
        let (local, member) = enclosure(node);
        out.push(Definition {
            name: name.to_string(),
            kind: kind.to_string(),
            start: node.start_byte(),
            end: node.end_byte(),
            signature: signature(lang, node, text),
            local,
            member,
        });
    }
    out.sort_by_key(|d| d.start);
    out.dedup_by_key(|d| d.start);
    out
}

/// Where a definition sits: (inside a function, inside a type). The nearest enclosing
/// function or type decides, so a method of a class nested in a function is local.
fn enclosure(node: tree_sitter::Node<'_>) -> (bool, bool) {
    let mut up = node.parent();
    while let Some(n) = up {
        let kind = n.kind();
        if kind.contains("function")
            || matches!(
                kind,
                "method_definition"
                    | "method_declaration"
                    | "arrow_function"
                    | "lambda"
                    | "closure_expression"
            )
        {
            return (true, false);
        }
        if kind.starts_with("class")
            || matches!(
                kind,
                "impl_item" | "trait_item" | "interface_declaration" | "object" | "type_spec"
            )
        {
            return (false, true);
        }
        up = n.parent();
    }
    (false, false)
}

/// The text of `node` up to its body, with the body elided.
pub(crate) fn signature(lang: Language, node: tree_sitter::Node<'_>, text: &str) -> String {
    // `lexical_declaration` wraps the arrow function that has the body.
    let mut target = node;
    if target.child_by_field_name("body").is_none() {
        let mut walk = node.walk();
        if let Some(inner) = node
            .named_children(&mut walk)
            .find_map(|c| c.child_by_field_name("value"))
            .filter(|v| v.child_by_field_name("body").is_some())
        {
            target = inner;
        }
    }
    let Some(body) = target.child_by_field_name("body") else {
        // No body (a constant, a type alias): the first line is its signature.
        let whole = &text[node.start_byte()..node.end_byte()];
        return whole.lines().next().unwrap_or("").to_string();
    };
    let head = text[node.start_byte()..body.start_byte()].trim_end();
    match lang {
        Language::Python => {
            // Keep a docstring: it says what the function is for.
            let body_text = &text[body.start_byte()..body.end_byte()];
            let indent = " ".repeat(body.start_position().column);
            match docstring(body_text) {
                Some(doc) => format!("{head}\n{indent}{doc}\n{indent}..."),
                None => format!("{head}\n{indent}..."),
            }
        }
        _ => match keyword_end(lang) {
            Some(end) => format!("{head} ... {end}"),
            None => format!("{head} {{ ... }}"),
        },
    }
}

/// The word that ends a block in languages that end blocks with one (`end`: Ruby, Lua).
pub(crate) fn keyword_end(lang: Language) -> Option<&'static str> {
    match lang.blocks() {
        Blocks::Keywords(words) => words.first().copied().filter(|w| *w == "end"),
        _ => None,
    }
}

/// The header of a scope node as it stands in the file (indented), up to its body: `def
/// f(x):`, `impl Foo {`. Empty when the node has no body field.
pub fn header(lang: Language, node: tree_sitter::Node<'_>, text: &str) -> String {
    let Some(body) = node.child_by_field_name("body") else {
        return String::new();
    };
    let line_start = text[..node.start_byte()].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..node.start_byte()];
    let indent = if indent.trim().is_empty() { indent } else { "" };
    let head = text[node.start_byte()..body.start_byte()].trim_end();
    match lang {
        Language::Python => format!("{indent}{head}"),
        _ if head.ends_with('{') || keyword_end(lang).is_some() => format!("{indent}{head}"),
        _ => format!("{indent}{head} {{"),
    }
}

pub(crate) fn docstring(body: &str) -> Option<&str> {
    let t = body.trim_start();
    for q in ["\"\"\"", "'''"] {
        if let Some(rest) = t.strip_prefix(q) {
            let end = rest.find(q)?;
            return Some(&t[..end + 2 * q.len()]);
        }
    }
    None
}

/// Identifiers in `code` with their counts: maximal runs of letters, digits and `_` that
/// do not start with a digit, keywords of the common languages left out.
pub fn identifiers(code: &str) -> HashMap<String, usize> {
    let mut out: HashMap<String, usize> = HashMap::new();
    for (_, w) in identifier_spans(code) {
        *out.entry(w.to_string()).or_default() += 1;
    }
    out
}

/// Each identifier of `code` (no keywords, no numbers) with its byte offset, in order.
pub fn identifier_spans(code: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in code
        .char_indices()
        .chain(std::iter::once((code.len(), ' ')))
    {
        let word = c.is_alphanumeric() || c == '_';
        match (start, word) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let w = &code[s..i];
                if !w.starts_with(|c: char| c.is_ascii_digit()) && !is_keyword(w) {
                    out.push((s, w));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "def"
            | "class"
            | "return"
            | "if"
            | "else"
            | "elif"
            | "for"
            | "while"
            | "in"
            | "not"
            | "and"
            | "or"
            | "is"
            | "None"
            | "True"
            | "False"
            | "self"
            | "import"
            | "from"
            | "as"
            | "with"
            | "try"
            | "except"
            | "finally"
            | "raise"
            | "pass"
            | "lambda"
            | "yield"
            | "fn"
            | "let"
            | "mut"
            | "pub"
            | "impl"
            | "struct"
            | "enum"
            | "use"
            | "mod"
            | "match"
            | "Self"
            | "const"
            | "var"
            | "function"
            | "new"
            | "this"
            | "true"
            | "false"
            | "null"
            | "undefined"
            | "export"
            | "type"
            | "interface"
            | "func"
            | "package"
            | "go"
            | "defer"
            | "nil"
            | "string"
            | "int"
            | "str"
            | "async"
            | "await"
            | "static"
            | "break"
            | "continue"
            | "where"
            | "crate"
    )
}

/// The name other files import a file by: its stem, or its folder's name for a package's
/// index file (`__init__.py`, `mod.rs`, `lib.rs`, `index.js`).
pub fn module_name(path: &str) -> String {
    let p = std::path::Path::new(path);
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if matches!(stem, "__init__" | "mod" | "lib" | "index" | "main")
        && let Some(dir) = p
            .parent()
            .and_then(|d| d.file_name())
            .and_then(|d| d.to_str())
    {
        return dir.to_string();
    }
    stem.to_string()
}

/// Whether import statement `stmt` brings in module `module` as a whole (`import helpers`,
/// `from pkg import helpers`, `import * as helpers from './helpers'`, `use crate::helpers;`)
/// rather than names from it (`from helpers import f`, `import { f } from './helpers'`).
pub fn imports_whole(lang: Language, stmt: &str, module: &str) -> bool {
    let has = |part: &str| identifiers(part).contains_key(module);
    let stmt = stmt.trim();
    match lang {
        Language::Python => match stmt.strip_prefix("from ") {
            Some(rest) => rest
                .split_once(" import ")
                .is_some_and(|(_, names)| has(names)),
            None => has(stmt),
        },
        Language::JavaScript | Language::TypeScript | Language::Tsx => {
            !stmt.contains('{') && has(stmt)
        }
        // `#include "geometry.h"`, `require_relative 'geometry'`, `source ./lib.sh`,
        // `require("geometry")`: a file is only ever included whole.
        Language::C
        | Language::Cpp
        | Language::Ruby
        | Language::Lua
        | Language::Bash
        | Language::Php => has(stmt),
        Language::Rust => has(stmt.rsplit("::").next().unwrap_or(stmt)),
        _ => false,
    }
}

/// The import statements of a file, in order, as text.
pub fn imports(lang: Language, tree: &Tree, text: &str) -> Vec<(usize, String)> {
    let query = lang.query(QueryKind::Imports);
    let mut cursor = QueryCursor::new();
    let mut matches = cursor.matches(query, tree.root_node(), text.as_bytes());
    let mut out = Vec::new();
    let names = query.capture_names();
    while let Some(m) = matches.next() {
        // Captures starting with `_` only serve predicates.
        for cap in m
            .captures()
            .iter()
            .filter(|c| names[c.index as usize] == "import")
        {
            if let Ok(t) = cap.node.utf8_text(text.as_bytes()) {
                out.push((cap.node.start_byte(), t.to_string()));
            }
        }
    }
    out.sort_by_key(|(s, _)| *s);
    out.dedup_by_key(|(s, _)| *s);
    out
}
