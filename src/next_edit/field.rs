//! The new-field rule: the user declared a field in a struct or class (`email: String,`,
//! `private String email;`, `email: string;`) whose constructor takes each of the other
//! fields as a parameter and stores it; the next edit gives the constructor the new
//! field's parameter, written like its neighbours with the field's type. The store follows
//! from the stored-parameter rule, the callers' argument from the added-parameter rule:
//! Tab walks the whole change.
//!
//! Certain enough to need no model: the parameter is a neighbour's with the name and type
//! swapped. Nothing is proposed when no parameter of the constructor is written with its
//! field's type (`&str` for a `String` field: the new one's form is not known), or when
//! the constructor already takes or stores the new field.

use tree_sitter::{Node, Tree};

use super::arguments::{enclosing, is_parameters};
use super::history::History;
use super::store::{StoredField, is_receiver, param_name, renamed_field, separator, stored_fields};
use super::tree::{for_each_node, is_name, named_children};

/// The parameter to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// Where it goes (an empty range: after the last parameter) and the text inserted.
    pub at: usize,
    pub text: String,
    /// The parameter itself (`email: String`) and the function that gets it.
    pub parameter: String,
    pub function: String,
}

/// The parameter the last hunk of `history` (a whole field declaration typed) calls for.
pub fn find(text: &str, tree: &Tree, history: &History) -> Option<Parameter> {
    let hunk = history.last()?;
    let typed = hunk.new.trim();
    if typed.is_empty() || !hunk.old.trim().is_empty() {
        return None;
    }
    let lead = hunk.new.len() - hunk.new.trim_start().len();
    let (start, end) = (hunk.start + lead, hunk.start + lead + typed.len());
    let root = tree.root_node();
    let decl = enclosing(root, start, is_field_declaration)?;
    // The hunk wrote the declaration whole (a field typed in, not a type changed).
    if decl.start_byte() < start || decl.end_byte() > end {
        return None;
    }
    let (new_field, new_type) = declared(decl, text)?;
    let container = container_of(decl)?;
    let class_name = &text[container.child_by_field_name("name")?.byte_range()];
    // The other fields, with their types as declared.
    let fields: Vec<(String, String)> = named_children(decl.parent()?)
        .into_iter()
        .filter(|n| n.id() != decl.id() && is_field_declaration(*n))
        .filter_map(|n| declared(n, text))
        .collect();
    if fields.is_empty() {
        return None;
    }
    let mut best: Option<(Node<'_>, Node<'_>, Vec<StoredField<'_>>)> = None;
    for_each_node(root, &mut |def| {
        let Some(params) = parameters_of(def) else {
            return;
        };
        let stored: Vec<StoredField<'_>> = stored_fields(def, params, text)
            .into_iter()
            .filter(|s| {
                fields.iter().any(|(f, _)| *f == s.field)
                    && builds(s.store, container, def, class_name, text)
            })
            .collect();
        // It stores every parameter it takes, or at least two of them.
        let takes = named_children(params)
            .into_iter()
            .filter(|p| param_name(*p, text).is_some_and(|n| !is_receiver(n)))
            .count();
        if stored.is_empty() || stored.len() < takes.min(2) {
            return;
        }
        if best.as_ref().is_none_or(|(_, _, b)| b.len() < stored.len()) {
            best = Some((def, params, stored));
        }
    });
    let (def, params, stored) = best?;
    // Already taken or stored under the new field's name.
    if stored.iter().any(|s| s.field == new_field) {
        return None;
    }
    let list = named_children(params);
    // A neighbour written with its field's type gives the new one's form.
    let parameter = stored.iter().rev().find_map(|s| {
        let (_, ty) = fields.iter().find(|(f, _)| *f == s.field)?;
        let name = param_for_field(&s.field, &s.name, &new_field)?;
        rewrite(s.param, text, &s.name, &name, ty, &new_type)
    })?;
    let new_name = param_name_of(&parameter, &stored, &new_field)?;
    if list
        .iter()
        .any(|p| param_name(*p, text) == Some(new_name.as_str()))
    {
        return None;
    }
    let last = *list.last()?;
    let sep = match wrapped(text, params, last, &parameter) {
        Some(sep) => sep,
        None => separator(text, last)?.to_string(),
    };
    let function = def
        .child_by_field_name("name")
        .or_else(|| params.parent()?.child_by_field_name("declarator"))
        .map_or(class_name, |n| &text[n.byte_range()]);
    Some(Parameter {
        at: last.end_byte(),
        text: format!("{sep}{parameter}"),
        parameter,
        function: function.to_string(),
    })
}

/// The separator that puts `parameter` on a line of its own after `last`, when the list
/// is wrapped over lines and the parameter would make `last`'s line the longest of them
/// (`,\n` and the continuation lines' indentation); `None` keeps the list's separator.
fn wrapped(text: &str, params: Node<'_>, last: Node<'_>, parameter: &str) -> Option<String> {
    let lines: Vec<&str> = text[params.byte_range()].lines().collect();
    if lines.len() < 2 {
        return None;
    }
    let start = text[..last.start_byte()].rfind('\n').map_or(0, |i| i + 1);
    let end = text[last.end_byte()..]
        .find('\n')
        .map_or(text.len(), |i| last.end_byte() + i);
    let longest = text[text[..params.start_byte()].rfind('\n').map_or(0, |i| i + 1)..end]
        .lines()
        .map(|l| l.chars().count())
        .max()?;
    let grown = text[start..end].chars().count() + 2 + parameter.chars().count();
    if grown <= longest {
        return None;
    }
    // The indentation of the continuation lines: the last parameter's line, or the
    // column the first parameter starts at.
    let own = &text[start..last.start_byte()];
    let indent = if own.trim().is_empty() && start > params.start_byte() {
        own.to_string()
    } else {
        let first = named_children(params).first().copied()?;
        let line = text[..first.start_byte()].rfind('\n').map_or(0, |i| i + 1);
        " ".repeat(text[line..first.start_byte()].chars().count())
    };
    Some(format!(",\n{indent}"))
}

/// Field declarations: Rust, Go, C, C++, Java, C# `field_declaration`; TypeScript's
/// `public_field_definition`; JavaScript's `field_definition`.
pub fn is_field_declaration(n: Node<'_>) -> bool {
    matches!(
        n.kind(),
        "field_declaration" | "public_field_definition" | "field_definition"
    )
}

/// A declaration's field name and type as written (`("email", "String")`).
pub fn declared(decl: Node<'_>, text: &str) -> Option<(String, String)> {
    // C# wraps both in a `variable_declaration`.
    let inner = named_children(decl)
        .into_iter()
        .find(|n| n.kind() == "variable_declaration")
        .unwrap_or(decl);
    let ty = inner.child_by_field_name("type")?;
    let mut name = inner
        .child_by_field_name("name")
        .or_else(|| inner.child_by_field_name("declarator"))
        .or_else(|| {
            named_children(inner)
                .into_iter()
                .find(|n| n.kind() == "variable_declarator")
        })?;
    for _ in 0..3 {
        if is_name(name) {
            break;
        }
        name = name
            .child_by_field_name("name")
            .or_else(|| name.child_by_field_name("declarator"))?;
    }
    if !is_name(name) {
        return None;
    }
    let ty = text[ty.byte_range()].trim_start_matches(':').trim();
    Some((text[name.byte_range()].to_string(), ty.to_string()))
}

/// The struct or class a field declaration is in (the nearest ancestor with a name).
fn container_of(decl: Node<'_>) -> Option<Node<'_>> {
    let mut n = decl.parent();
    while let Some(c) = n {
        if c.child_by_field_name("name").is_some() {
            return Some(c);
        }
        n = c.parent();
    }
    None
}

/// The parameters of a function-like node (in C and C++, under its declarator).
pub fn parameters_of(def: Node<'_>) -> Option<Node<'_>> {
    def.child_by_field_name("body")?;
    def.child_by_field_name("parameters")
        .or_else(|| {
            let mut d = def.child_by_field_name("declarator");
            while let Some(n) = d {
                if let Some(p) = n.child_by_field_name("parameters") {
                    return Some(p);
                }
                d = n.child_by_field_name("declarator");
            }
            None
        })
        .filter(|p| is_parameters(*p))
}

/// True when `store` builds the container: a statement of a function inside the class, or
/// an element of a literal of the struct (`Name { … }`, `Self { … }`, `&Name{…}`).
fn builds(store: Node<'_>, container: Node<'_>, def: Node<'_>, name: &str, text: &str) -> bool {
    let inside =
        container.start_byte() <= def.start_byte() && def.end_byte() <= container.end_byte();
    let mut n = store.parent();
    while let Some(c) = n {
        if c.id() == def.id() {
            return inside;
        }
        if let Some(ty) = c
            .child_by_field_name("name")
            .or_else(|| c.child_by_field_name("type"))
            .filter(|_| c.kind().contains("struct_expression") || c.kind() == "composite_literal")
        {
            let t = &text[ty.byte_range()];
            return t == name || t == "Self";
        }
        n = c.parent();
    }
    false
}

/// The parameter name for `new_field`, decorated as `field` is for `param` (`name_` ←
/// `name`: `email_` ← `email`; `Name` ← `name`: `Email` ← `email`).
fn param_for_field(field: &str, param: &str, new_field: &str) -> Option<String> {
    // Try each way `renamed_field` decorates: the one that maps `param` to `field` maps
    // the wanted name to `new_field`.
    let lower = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_lowercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    for pre in ["", "_", "__", "m_"] {
        for suf in ["", "_"] {
            let Some(core) = new_field
                .strip_prefix(pre)
                .and_then(|s| s.strip_suffix(suf))
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            // `Name` ← `name`: the parameter is the field's name lowered.
            let cands = if field.contains(param) {
                [core.to_string(), lower(core)]
            } else {
                [lower(core), core.to_string()]
            };
            for cand in cands {
                if renamed_field(field, param, &cand).as_deref() == Some(new_field) {
                    return Some(cand);
                }
            }
        }
    }
    None
}

/// `param`'s text with its name `old` made `new` and its type `old_ty` made `new_ty`;
/// `None` when the parameter is not written with its field's type.
fn rewrite(
    param: Node<'_>,
    text: &str,
    old: &str,
    new: &str,
    old_ty: &str,
    new_ty: &str,
) -> Option<String> {
    let p = &text[param.byte_range()];
    let mut name_at = None;
    for_each_node(param, &mut |n| {
        let t = &text[n.byte_range()];
        if name_at.is_none() && is_name(n) && t.strip_prefix('$').unwrap_or(t) == old {
            name_at = Some(n.byte_range());
        }
    });
    let name = name_at?;
    let (name_start, name_end) = (
        name.start - param.start_byte(),
        name.end - param.start_byte(),
    );
    let ty = (0..p.len()).filter(|i| p.is_char_boundary(*i)).find(|i| {
        p[*i..].starts_with(old_ty)
            && (*i + old_ty.len() <= name_start || *i >= name_end)
            && word_bounded(p, *i, old_ty.len())
    })?;
    let mut parts = [
        (name_start..name_end, text[name].replacen(old, new, 1)),
        (ty..ty + old_ty.len(), new_ty.to_string()),
    ];
    parts.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = p.to_string();
    for (r, with) in parts {
        out.replace_range(r, &with);
    }
    Some(out)
}

/// True when `p[at..at + len]` is not part of a longer name.
fn word_bounded(p: &str, at: usize, len: usize) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    !p[..at].chars().next_back().is_some_and(word)
        && !p[at + len..].chars().next().is_some_and(word)
}

/// The new parameter's name, read back from its text (for the check that the function
/// does not take it already).
fn param_name_of(parameter: &str, stored: &[StoredField<'_>], new_field: &str) -> Option<String> {
    stored
        .iter()
        .find_map(|s| param_for_field(&s.field, &s.name, new_field))
        .filter(|n| parameter.contains(n.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Language;

    /// `before` with `field` typed in after `at`: the text after taking the parameter.
    fn added(lang: Language, before: &str, at: &str, field: &str) -> Option<String> {
        let pos = before.find(at).expect("place") + at.len();
        let mut after = before.to_string();
        after.insert_str(pos, field);
        let mut h = History::default();
        h.record(before, &after);
        let tree = crate::syntax::parse(lang, &after, None).unwrap();
        let p = find(&after, &tree, &h)?;
        let mut out = after.clone();
        out.insert_str(p.at, &p.text);
        Some(out)
    }

    #[test]
    fn a_new_field_is_a_new_parameter_of_the_constructor() {
        let rs = "struct P {\n    name: String,\n    age: u32,\n}\n\nimpl P {\n    fn new(name: String, age: u32) -> Self {\n        Self { name, age }\n    }\n}\n";
        let out = added(
            Language::Rust,
            rs,
            "age: u32,\n",
            "    email: Option<String>,\n",
        )
        .unwrap();
        assert!(
            out.contains("fn new(name: String, age: u32, email: Option<String>) -> Self"),
            "{out}"
        );
        let ts = "class P {\n  name: string;\n  age: number;\n  constructor(name: string, age: number) {\n    this.name = name;\n    this.age = age;\n  }\n}\n";
        let out = added(
            Language::TypeScript,
            ts,
            "age: number;\n",
            "  email: string;\n",
        )
        .unwrap();
        assert!(
            out.contains("constructor(name: string, age: number, email: string)"),
            "{out}"
        );
        let java = "class P {\n  private final String name;\n  private int age;\n\n  P(String name, int age) {\n    this.name = name;\n    this.age = age;\n  }\n}\n";
        let out = added(Language::Java, java, "int age;\n", "  private long id;\n").unwrap();
        assert!(out.contains("P(String name, int age, long id)"), "{out}");
        let go = "type P struct {\n\tName string\n\tAge  int\n}\n\nfunc NewP(name string, age int) *P {\n\treturn &P{Name: name, Age: age}\n}\n";
        let out = added(Language::Go, go, "Age  int\n", "\tEmail string\n").unwrap();
        assert!(
            out.contains("func NewP(name string, age int, email string) *P"),
            "{out}"
        );
        let cpp = "class P {\n public:\n  P(std::string name, int age) : name_(name), age_(age) {}\n\n private:\n  std::string name_;\n  int age_;\n};\n";
        let out = added(Language::Cpp, cpp, "int age_;\n", "  double weight_;\n").unwrap();
        assert!(
            out.contains("P(std::string name, int age, double weight)"),
            "{out}"
        );
        // A list wrapped over lines: the parameter goes on a line of its own where it would
        // make its line the longest.
        let java = "class E {\n  private Object source;\n  private int first;\n  private int last;\n\n  public E(Object source, int first,\n           int last) {\n    this.source = source;\n    this.first = first;\n    this.last = last;\n  }\n}\n";
        let out = added(
            Language::Java,
            java,
            "int last;\n",
            "  private boolean isAdjusting;\n",
        )
        .unwrap();
        assert!(
            out.contains("           int last,\n           boolean isAdjusting) {"),
            "{out}"
        );
    }

    #[test]
    fn nothing_without_a_constructor_that_stores_the_fields() {
        // No constructor.
        let rs = "struct P {\n    name: String,\n    age: u32,\n}\n";
        assert_eq!(
            added(Language::Rust, rs, "age: u32,\n", "    email: String,\n"),
            None
        );
        // Parameters not written with their fields' types: the new one's form is unknown.
        let rs = "struct P {\n    name: String,\n    age: u32,\n}\n\nimpl P {\n    fn new(name: &str, age: impl Into<u32>) -> Self {\n        Self { name: name.into(), age: age.into() }\n    }\n}\n";
        assert_eq!(
            added(Language::Rust, rs, "age: u32,\n", "    email: String,\n"),
            None
        );
        // A type changed is not a field added.
        let ts = "class P {\n  name: string;\n  age: number;\n  constructor(name: string, age: number) {\n    this.name = name;\n    this.age = age;\n  }\n}\n";
        let mut h = History::default();
        let after = ts.replace("age: number;", "age: bigint;");
        h.record(ts, &after);
        let tree = crate::syntax::parse(Language::TypeScript, &after, None).unwrap();
        assert_eq!(find(&after, &tree, &h), None);
    }
}
