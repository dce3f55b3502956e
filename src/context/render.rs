//! How a definition from another file reads in the context: whole, as its members'
//! outline, as its signature, or as one line of its module's outline.

use tree_sitter::{Node, Tree};

use super::symbols::{Definition, docstring, keyword_end, signature};
use crate::lang::Language;

/// The definition as the model sees it: whole when short; a class, struct, enum, trait
/// or interface too long for that as its members' outline (with `members`); else its
/// signature.
pub(super) fn render_definition(
    lang: Language,
    tree: &Tree,
    def: &Definition,
    text: &str,
    max_lines: usize,
    members: bool,
) -> String {
    let whole = &text[def.start..def.end];
    if whole.lines().count() <= max_lines {
        return with_indent(text, def.start, whole);
    }
    let node = tree
        .root_node()
        .descendant_for_byte_range(def.start, def.end)
        .filter(|n| n.start_byte() == def.start && n.end_byte() == def.end);
    let class_like = matches!(def.kind.as_str(), "class" | "interface");
    if let Some(outline) = node
        .filter(|_| members && class_like)
        .and_then(|n| members_outline(lang, n, text, 2 * max_lines))
    {
        return with_indent(text, def.start, &outline);
    }
    with_indent(text, def.start, &def.signature)
}

/// A class (struct, enum, trait, interface) as its header, its fields' lines and its
/// methods' one-line signatures, at most `max_members` of them: what another file can
/// use of it (a constructor's arguments, a pydantic model's fields, the methods), which
/// the header alone (`class Params(BaseModel): ...`) does not say. None for a node
/// without such members.
fn members_outline(
    lang: Language,
    node: Node<'_>,
    text: &str,
    max_members: usize,
) -> Option<String> {
    let body = node.child_by_field_name("body")?;
    let mut walk = body.walk();
    let children: Vec<Node<'_>> = body.named_children(&mut walk).collect();
    let mut lines = Vec::new();
    let mut indent = String::new();
    let mut left_out = false;
    for child in children {
        if child.kind().contains("comment") || is_docstring(child) {
            continue;
        }
        if lines.len() >= max_members {
            left_out = true;
            break;
        }
        let line_start = text[..child.start_byte()].rfind('\n').map_or(0, |i| i + 1);
        if indent.is_empty() {
            indent = text[line_start..child.start_byte()].to_string();
            if !indent.trim().is_empty() {
                return None; // Members on the header's line: short enough to show whole.
            }
        }
        // A method, maybe decorated (`@property`): its decorators and one-line signature.
        let (decorators, function) = match child.kind() {
            "decorated_definition" => {
                let Some(def) = child.child_by_field_name("definition") else {
                    continue;
                };
                let mut w = child.walk();
                let decorators: Vec<String> = child
                    .named_children(&mut w)
                    .filter(|c| c.kind() == "decorator")
                    .map(|c| first_line(&text[c.start_byte()..c.end_byte()]).to_string())
                    .collect();
                (decorators, Some(def))
            }
            _ if child.child_by_field_name("body").is_some() => (Vec::new(), Some(child)),
            _ => (Vec::new(), None),
        };
        match function {
            Some(f) if f.child_by_field_name("body").is_some() => {
                let name = f
                    .child_by_field_name("name")
                    .and_then(|n| n.utf8_text(text.as_bytes()).ok())
                    .unwrap_or("");
                // Private helpers say nothing about how to use the class; `__init__` does.
                if name.starts_with('_') && name != "__init__" && lang == Language::Python {
                    continue;
                }
                for d in decorators {
                    lines.push(format!("{indent}{d}"));
                }
                lines.push(format!(
                    "{indent}{}",
                    one_line(lang, &signature(lang, f, text))
                ));
            }
            Some(_) => continue,
            None => {
                // A field: its line (with the `,` or `;` after it), or up to its value
                // when that runs on.
                let whole = &text[child.start_byte()..child.end_byte()];
                let field = if !whole.contains('\n') {
                    first_line(&text[child.start_byte()..]).to_string()
                } else {
                    let first = first_line(whole);
                    match first.split_once(" = ") {
                        Some((name, _)) => format!("{name} = ..."),
                        None => continue,
                    }
                };
                lines.push(format!("{indent}{field}"));
            }
        }
    }
    if lines.is_empty() {
        return None;
    }
    let head = text[node.start_byte()..body.start_byte()].trim_end();
    let mut out = match lang {
        Language::Python => head.to_string(),
        _ if head.ends_with('{') || keyword_end(lang).is_some() => head.to_string(),
        _ => format!("{head} {{"),
    };
    // The class's docstring says what it is for.
    if lang == Language::Python {
        let body_text = &text[body.start_byte()..body.end_byte()];
        if let Some(doc) = docstring(body_text).filter(|d| d.lines().count() <= 4) {
            out.push_str(&format!("\n{indent}{doc}"));
        }
    }
    for l in lines {
        out.push('\n');
        out.push_str(&l);
    }
    if left_out {
        out.push_str(&match lang {
            Language::Python => format!("\n{indent}..."),
            _ => format!("\n{indent}{}", lang.comment("...")),
        });
    }
    if let Some(end) = keyword_end(lang) {
        let line_start = text[..node.start_byte()].rfind('\n').map_or(0, |i| i + 1);
        let outer = &text[line_start..node.start_byte()];
        let outer = if outer.trim().is_empty() { outer } else { "" };
        out.push_str(&format!("\n{outer}{end}"));
    } else if lang != Language::Python {
        let line_start = text[..node.start_byte()].rfind('\n').map_or(0, |i| i + 1);
        let outer = &text[line_start..node.start_byte()];
        let outer = if outer.trim().is_empty() { outer } else { "" };
        // `with_indent` adds the outer indentation to the first line only.
        out.push_str(&format!("\n{outer}}}"));
    }
    Some(out)
}

fn is_docstring(node: Node<'_>) -> bool {
    node.kind() == "expression_statement"
        && node.named_child(0).is_some_and(|c| c.kind() == "string")
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim_end()
}

/// A definition as one line of a module's outline: `def f(x): ...`, `fn f(x: u32) { ... }`.
pub(super) fn outline_line(lang: Language, def: &Definition) -> String {
    one_line(lang, &def.signature)
}

/// A signature (as [`signature`] gives it) on one line.
fn one_line(lang: Language, signature: &str) -> String {
    // A signature over several lines (`def f(a,\n        b):`) is joined into one: its
    // first line alone would not parse.
    let mut head = String::new();
    let mut closed = false;
    for line in signature.lines().take(8) {
        let line = line.trim();
        if !head.is_empty() && !head.ends_with('(') && !line.starts_with(')') {
            head.push(' ');
        }
        head.push_str(line);
        if line.ends_with(':') || line.ends_with("{ ... }") || line.ends_with(';') {
            closed = true;
            break;
        }
    }
    let first = signature.lines().next().unwrap_or("").trim_end();
    if !closed || head.len() > 200 {
        // A constant whose value goes on (`X = re.compile(r'...',`): its name is enough.
        let open = first.matches(['(', '[', '{']).count();
        let shut = first.matches([')', ']', '}']).count();
        return match first.split_once(" = ") {
            Some((name, _)) if open > shut => format!("{name} = ..."),
            _ => first.to_string(),
        };
    }
    match lang {
        Language::Python if head.ends_with(':') => format!("{head} ..."),
        _ => head,
    }
}

/// `snippet` with the indentation its first line has in the file, so nested definitions
/// (methods) read as they do in place.
pub(super) fn with_indent(text: &str, start: usize, snippet: &str) -> String {
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..start];
    if indent.trim().is_empty() {
        format!("{indent}{snippet}")
    } else {
        snippet.to_string()
    }
}
