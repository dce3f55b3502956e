//! The stored-parameter rule: the user gave a function one more parameter, and the function
//! stores its other parameters under their own names (a constructor: `self.name = name`,
//! `this.name = name;`, `$this->name = $name;`, `Self { name, age }`, `&P{Name: name}`,
//! `name_(name)`): the next edit stores the new one the same way, beside the store of the
//! parameter before it (or, for the first, before the store of the one after it).
//!
//! Certain enough to need no model: the new statement or field is a copy of a neighbour's
//! with the names swapped. Nothing is proposed when the new parameter is already used in
//! the function, when its field is already assigned there, or when fewer than two of the
//! other parameters (one, when there is only one) are stored that way.

use std::ops::Range;

use tree_sitter::{Node, Tree};

use super::arguments::{Grown, grown};
use super::history::History;
use super::tree::{for_each_node, is_name, named_children};
use crate::lang::Language;

/// The store to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Store {
    /// Where it goes (an empty range) and the text inserted there.
    pub at: usize,
    pub text: String,
    /// The statement or field itself (`self.email = email`), for the label.
    pub store: String,
}

/// How a parameter `q` is stored, found in the function.
#[derive(Debug, Clone)]
struct Stored<'t> {
    /// The parameter's index in the list.
    index: usize,
    /// A statement on its own line (`self.q = q`), or an element of a list
    /// (`Self { q, r }`, `: q_(q), r_(r)`).
    form: Form,
    /// The statement or element.
    node: Node<'t>,
    /// Where the field's name and the stored value are, in the text; for a shorthand both
    /// are the element.
    field: Range<usize>,
    value: Range<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Line,
    Element,
}

/// The store the last hunk of `history` (a parameter added) calls for, if any.
pub fn find(text: &str, tree: &Tree, history: &History, lang: Language) -> Option<Store> {
    let hunk = history.last()?;
    let Grown {
        def,
        params,
        added: Some(added),
        ..
    } = grown(text, tree, hunk, lang)?
    else {
        return None;
    };
    let list = named_children(params);
    let index = list.iter().position(|p| p.id() == added.id())?;
    let names: Vec<Option<&str>> = list.iter().map(|p| param_name(*p, text)).collect();
    let new = names[index]?;
    let body = def.child_by_field_name("body")?;
    // Already used: the user wires it up themselves.
    if use_count(def, params, text, new) > 0 {
        return None;
    }
    let mut stored: Vec<Stored<'_>> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        if i == index {
            continue;
        }
        if let Some(name) = name
            && let Some(s) = store_of(def, params, text, name, i)
        {
            stored.push(s);
        }
    }
    let others = names
        .iter()
        .enumerate()
        .filter(|(i, n)| *i != index && n.is_some_and(|n| !is_receiver(n)))
        .count();
    if stored.len() < others.min(2) || stored.is_empty() {
        return None;
    }
    // The neighbour whose store is copied: the nearest stored parameter before the new one,
    // else the nearest after it (the new store goes before that one). Stores written in
    // the reverse order of the parameters (`this.b = b; this.a = a;`) put the new one on
    // the other side of its neighbour.
    let reversed = stored.len() >= 2
        && stored
            .windows(2)
            .all(|w| w[0].node.start_byte() > w[1].node.start_byte());
    let (anchor, before_param) = match stored.iter().rev().find(|s| s.index < index) {
        Some(s) => (s, true),
        None => (stored.iter().find(|s| s.index > index)?, false),
    };
    let after = before_param != reversed;
    let anchor_name = names[anchor.index]?;
    let field = renamed_field(&text[anchor.field.clone()], anchor_name, new)?;
    // The field already holds something here (`self.email = None`): not ours to add.
    if assigns_field(body, text, &field) {
        return None;
    }
    let store = copy_with(
        text,
        anchor,
        &field,
        &value_of(text, anchor, anchor_name, new),
    );
    // A new last parameter goes after the stores that follow its neighbour's (`default:
    // representation, opts` after `committish`), not between them.
    let mut place = anchor.node;
    if after && !reversed && index + 1 == list.len() {
        while let Some(next) = next_sibling(place).filter(|n| stores_a_parameter(*n, text, &names))
        {
            place = next;
        }
    }
    let (at, insert) = match anchor.form {
        Form::Line => {
            let line = line_of(text, place.byte_range());
            let indent = &text[line.start..]
                [..text[line.start..].len() - text[line.start..].trim_start().len()];
            // The statement alone on its line(s): no second statement to copy around.
            if text[line.clone()].trim() != text[place.byte_range()].trim() {
                return None;
            }
            if after {
                let at = (line.end + 1).min(text.len());
                let lead = if line.end == text.len() { "\n" } else { "" };
                (at, format!("{lead}{indent}{store}\n"))
            } else {
                (line.start, format!("{indent}{store}\n"))
            }
        }
        Form::Element => {
            let sep = separator(text, anchor.node)?;
            if after {
                (place.end_byte(), format!("{sep}{store}"))
            } else {
                (anchor.node.start_byte(), format!("{store}{sep}"))
            }
        }
    };
    Some(Store {
        at,
        text: insert,
        store,
    })
}

/// The next named sibling of `n` that is not a comment.
fn next_sibling(n: Node<'_>) -> Option<Node<'_>> {
    let mut s = n.next_named_sibling();
    while let Some(c) = s {
        if !c.kind().contains("comment") {
            return Some(c);
        }
        s = c.next_named_sibling();
    }
    None
}

/// True when the statement or element `n` stores one of the parameters `names`, under any
/// field (`self.dict = dict`, `default: representation`).
fn stores_a_parameter(n: Node<'_>, text: &str, names: &[Option<&str>]) -> bool {
    let is_param = |v: Node<'_>| {
        let t = stripped(&text[v.byte_range()]);
        names.contains(&Some(t))
    };
    let assignment = if n.kind() == "expression_statement" {
        n.named_child(0)
    } else {
        Some(n)
    };
    if let Some(a) = assignment.filter(|a| a.kind().contains("assignment"))
        && let Some(right) = a.child_by_field_name("right")
    {
        return is_param(right);
    }
    match n.kind() {
        "shorthand_field_initializer" | "shorthand_property_identifier" => is_param(n),
        "field_initializer" | "pair" | "keyed_element" => {
            let value = n
                .child_by_field_name("value")
                .or_else(|| named_children(n).last().copied());
            value.is_some_and(|v| {
                let inner = named_children(v);
                // `Name: name` (Go), `name_(name)`, `name_{name}` (C++): the one value inside.
                let v = match (v.kind(), inner.as_slice()) {
                    ("literal_element" | "argument_list" | "initializer_list", [one]) => *one,
                    _ => v,
                };
                is_param(v)
            })
        }
        _ => false,
    }
}

/// A parameter a function stores, and under which field.
#[derive(Debug, Clone)]
pub struct StoredField<'t> {
    /// The parameter and its name.
    pub param: Node<'t>,
    pub name: String,
    /// The field's name as the store writes it (`name_`, `Name`).
    pub field: String,
    /// The statement or element that stores it.
    pub store: Node<'t>,
}

/// The parameters of `def` (its list `params`) that it stores, in the list's order.
pub fn stored_fields<'t>(def: Node<'t>, params: Node<'t>, text: &str) -> Vec<StoredField<'t>> {
    named_children(params)
        .into_iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let name = param_name(p, text)?;
            let s = store_of(def, params, text, name, i)?;
            Some(StoredField {
                param: p,
                name: name.to_string(),
                field: text[s.field].to_string(),
                store: s.node,
            })
        })
        .collect()
}

/// Where `def` stores its parameter `name` (the `index`th of `params`): the text a user
/// deletes to take the store out (the statement's whole line, or the element with the
/// separator before it, or after it for the first), if `def` stores it.
pub fn store_removal(
    def: Node<'_>,
    params: Node<'_>,
    text: &str,
    name: &str,
    index: usize,
) -> Option<Range<usize>> {
    let s = store_of(def, params, text, name, index)?;
    match s.form {
        Form::Line => {
            let line = line_of(text, s.node.byte_range());
            (text[line.clone()].trim() == text[s.node.byte_range()].trim())
                .then(|| line.start..(line.end + 1).min(text.len()))
        }
        Form::Element => {
            let parent = s.node.parent()?;
            let kids = named_children(parent);
            let i = kids.iter().position(|k| k.id() == s.node.id())?;
            let r = match i.checked_sub(1) {
                Some(p) => kids[p].end_byte()..s.node.end_byte(),
                None => s.node.start_byte()..kids.get(1)?.start_byte(),
            };
            let sep = text[r.clone()].replace(&text[s.node.byte_range()], "");
            (sep.trim() == ",").then_some(r)
        }
    }
}

/// The name a parameter binds (`email` of `email: str = ""`, `const std::string& email`,
/// `$email`), without PHP's `$`.
pub fn param_name<'a>(param: Node<'_>, text: &'a str) -> Option<&'a str> {
    let mut n = param;
    // Down the fields that hold the name, to a name leaf.
    for _ in 0..4 {
        if is_name(n) {
            break;
        }
        n = ["name", "pattern", "declarator"]
            .iter()
            .find_map(|f| n.child_by_field_name(f))
            .or_else(|| first_identifier(n))
            .or_else(|| named_children(n).last().copied())?;
    }
    if !is_name(n) {
        return None;
    }
    let t = &text[n.byte_range()];
    let t = t.strip_prefix('$').unwrap_or(t);
    (!t.is_empty()).then_some(t)
}

fn first_identifier(n: Node<'_>) -> Option<Node<'_>> {
    let mut found = None;
    for_each_node(n, &mut |c| {
        if found.is_none() && c.kind() == "identifier" {
            found = Some(c);
        }
    });
    found
}

pub(super) fn is_receiver(name: &str) -> bool {
    matches!(name, "self" | "cls" | "this")
}

/// How often `name` is a bare name (not a member, not a field's key) in `def` outside its
/// parameters.
pub fn use_count(def: Node<'_>, params: Node<'_>, text: &str, name: &str) -> usize {
    let mut count = 0;
    for_each_node(def, &mut |n| {
        if n.start_byte() >= params.start_byte() && n.end_byte() <= params.end_byte() {
            return;
        }
        if is_name(n) && super::tree::member_object(n, text).is_none() {
            let t = &text[n.byte_range()];
            if t.strip_prefix('$').unwrap_or(t) == name && !is_key(n) {
                count += 1;
            }
        }
    });
    count
}

/// True when `n` is a field's name in an element (`x` of `x: 1`, `x_` of `x_(1)`).
fn is_key(n: Node<'_>) -> bool {
    n.parent().is_some_and(|p| {
        let key = p
            .child_by_field_name("field")
            .or_else(|| p.child_by_field_name("key"));
        key.is_some_and(|k| k.id() == n.id())
            || (p.kind() == "field_initializer"
                && p.named_child(0).is_some_and(|k| k.id() == n.id()))
            || p.kind() == "literal_element"
                && p.parent()
                    .and_then(|g| g.child_by_field_name("key"))
                    .is_some_and(|k| k.id() == p.id())
    })
}

/// How `def` stores the parameter `name` (the `index`th), if it does.
fn store_of<'t>(
    def: Node<'t>,
    params: Node<'t>,
    text: &str,
    name: &str,
    index: usize,
) -> Option<Stored<'t>> {
    let body = def.child_by_field_name("body").map(|b| b.id());
    let mut found = None;
    for_each_node(def, &mut |n| {
        if found.is_some()
            || n.start_byte() < params.end_byte() && n.end_byte() > params.start_byte()
        {
            return;
        }
        // A statement of the function's own block: not one under an `if`, which stores
        // only sometimes.
        let top = |f: &Found<'t>| f.0 == Form::Element || f.1.parent().map(|p| p.id()) == body;
        found = assignment_store(n, text, name)
            .filter(top)
            .or_else(|| element_store(n, text, name))
            .map(|(form, node, field, value)| Stored {
                index,
                form,
                node,
                field,
                value,
            });
    });
    found
}

type Found<'t> = (Form, Node<'t>, Range<usize>, Range<usize>);

/// `self.f = name`, `this.f = name;`, `this->f = name;`, `$this->f = $name;`, or
/// `f = name;` where `f` is `name` decorated (`name_`, `_name`, `Name`).
fn assignment_store<'t>(n: Node<'t>, text: &str, name: &str) -> Option<Found<'t>> {
    if !n.kind().contains("assignment") {
        return None;
    }
    let left = n.child_by_field_name("left")?;
    let right = n.child_by_field_name("right")?;
    if stripped(&text[right.byte_range()]) != name {
        return None;
    }
    let field = if is_name(left) {
        // No object: only a decorated name is a field (`name = name` is not a store).
        let f = &text[left.byte_range()];
        (f != name && renamed_field(f, name, name).is_some()).then_some(left)?
    } else {
        let member = last_name(left)?;
        let object = text[left.start_byte()..member.start_byte()].trim();
        matches!(object, "self." | "this." | "this->" | "$this->").then_some(member)?
    };
    renamed_field(&text[field.byte_range()], name, name)?;
    // The statement the assignment is (`expression_statement` holds its `;`).
    let stmt = match n.parent() {
        Some(p) if p.kind() == "expression_statement" && p.named_child_count() == 1 => p,
        _ => n,
    };
    Some((Form::Line, stmt, field.byte_range(), right.byte_range()))
}

/// `Self { name }`, `{ name }`, `f: name`, `Name: name`, `name_(name)`, `name_{name}`.
fn element_store<'t>(n: Node<'t>, text: &str, name: &str) -> Option<Found<'t>> {
    let k = n.kind();
    if k == "shorthand_field_initializer" || k == "shorthand_property_identifier" {
        return (&text[n.byte_range()] == name)
            .then(|| (Form::Element, n, n.byte_range(), n.byte_range()));
    }
    if !matches!(k, "field_initializer" | "pair" | "keyed_element") {
        return None;
    }
    let key = n
        .child_by_field_name("field")
        .or_else(|| n.child_by_field_name("key"))
        .or_else(|| n.named_child(0))?;
    let mut value = n
        .child_by_field_name("value")
        .or_else(|| named_children(n).last().copied())?;
    // `name_(name)`, `name_{name}`: the one value inside.
    if value.kind() == "argument_list" || value.kind() == "initializer_list" {
        let inner = named_children(value);
        if inner.len() != 1 {
            return None;
        }
        value = inner[0];
    }
    let key = if key.kind() == "literal_element" {
        key.named_child(0)?
    } else {
        key
    };
    if value.kind() == "literal_element" {
        value = value.named_child(0)?;
    }
    if key.id() == value.id() || !is_name(key) || &text[value.byte_range()] != name {
        return None;
    }
    renamed_field(&text[key.byte_range()], name, name)?;
    Some((Form::Element, n, key.byte_range(), value.byte_range()))
}

fn stripped(t: &str) -> &str {
    t.strip_prefix('$').unwrap_or(t)
}

fn last_name(n: Node<'_>) -> Option<Node<'_>> {
    let kids = named_children(n);
    let last = *kids.last()?;
    if is_name(last) {
        Some(last)
    } else {
        last_name(last)
    }
}

/// The field that stores `new` where `field` stores `old`: the same decoration around
/// the name (`_old` → `_new`, `old_` → `new_`, `m_old` → `m_new`, `Old` → `New`).
pub(super) fn renamed_field(field: &str, old: &str, new: &str) -> Option<String> {
    let capital = |s: &str| {
        let mut c = s.chars();
        c.next()
            .map(|f| f.to_uppercase().chain(c).collect::<String>())
            .unwrap_or_default()
    };
    for (o, n) in [
        (old.to_string(), new.to_string()),
        (capital(old), capital(new)),
    ] {
        if let Some(at) = field.find(&o) {
            let (pre, suf) = (&field[..at], &field[at + o.len()..]);
            if matches!(pre, "" | "_" | "__" | "m_") && matches!(suf, "" | "_") {
                return Some(format!("{pre}{n}{suf}"));
            }
        }
    }
    None
}

/// True when the member or name `field` is assigned anywhere in `body`.
fn assigns_field(body: Node<'_>, text: &str, field: &str) -> bool {
    let mut found = false;
    for_each_node(body, &mut |n| {
        if found {
            return;
        }
        if let Some(left) = n
            .child_by_field_name("left")
            .filter(|_| n.kind().contains("assignment"))
        {
            let target = if is_name(left) {
                Some(left)
            } else {
                last_name(left)
            };
            found = target.is_some_and(|t| &text[t.byte_range()] == field);
        } else if matches!(
            n.kind(),
            "field_initializer" | "pair" | "keyed_element" | "shorthand_field_initializer"
        ) || n.kind() == "shorthand_property_identifier"
        {
            let key = n
                .child_by_field_name("field")
                .or_else(|| n.child_by_field_name("key"))
                .or_else(|| n.named_child(0))
                .unwrap_or(n);
            found = text[key.byte_range()].trim() == field;
        }
    });
    found
}

/// The value `new` written as the anchor wrote `old` (`$old` → `$new`).
fn value_of(text: &str, anchor: &Stored<'_>, old: &str, new: &str) -> String {
    text[anchor.value.clone()].replacen(old, new, 1)
}

/// The anchor's statement or element with its field and value replaced.
fn copy_with(text: &str, anchor: &Stored<'_>, field: &str, value: &str) -> String {
    let node = anchor.node.byte_range();
    if anchor.field == anchor.value {
        // A shorthand: the name is both.
        return value.to_string();
    }
    let mut parts = vec![
        (anchor.field.clone(), field.to_string()),
        (anchor.value.clone(), value.to_string()),
    ];
    // Values aligned in a column (`Name:    name`, gofmt; `this.a  = a`): the new value in
    // the same column where the new field leaves room.
    if anchor.field.end < anchor.value.start {
        let gap = &text[anchor.field.end..anchor.value.start];
        if let Some(at) = gap.find("  ") {
            let run = gap[at..].len() - gap[at..].trim_start_matches(' ').len();
            let width = run as isize - (field.len() as isize - anchor.field.len() as isize);
            let spaces = " ".repeat(width.max(1) as usize);
            let gap = format!("{}{spaces}{}", &gap[..at], &gap[at + run..]);
            parts.push((anchor.field.end..anchor.value.start, gap));
        }
    }
    parts.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
    let mut out = text[node.clone()].to_string();
    for (r, with) in parts {
        out.replace_range(r.start - node.start..r.end - node.start, &with);
    }
    out
}

/// The whole lines `range` is on (without the last newline).
fn line_of(text: &str, range: Range<usize>) -> Range<usize> {
    let start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
    let end = text[range.end..]
        .find('\n')
        .map_or(text.len(), |i| range.end + i);
    start..end
}

/// What stands between `element` and its neighbour in the list (`, `, `,\n    `).
pub(super) fn separator<'a>(text: &'a str, element: Node<'_>) -> Option<&'a str> {
    let parent = element.parent()?;
    let kids = named_children(parent);
    let i = kids.iter().position(|k| k.id() == element.id())?;
    let between = if let Some(next) = kids.get(i + 1) {
        element.end_byte()..next.start_byte()
    } else if let Some(prev) = i.checked_sub(1).and_then(|p| kids.get(p)) {
        prev.end_byte()..element.start_byte()
    } else {
        // Alone in its list: the separator a list on one line has.
        return Some(", ");
    };
    let sep = &text[between];
    (sep.trim() == ",").then_some(sep)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text after `before` becomes `after` by one typed insertion, and the store found.
    fn stored(lang: Language, before: &str, after: &str) -> Option<String> {
        let mut h = History::default();
        h.record(before, after);
        let tree = crate::syntax::parse(lang, after, None).unwrap();
        let s = find(after, &tree, &h, lang)?;
        let mut out = after.to_string();
        out.insert_str(s.at, &s.text);
        Some(out)
    }

    #[test]
    fn a_constructor_s_new_parameter_is_stored_like_the_others() {
        let py = "class P:\n    def __init__(self, name, age):\n        self.name = name\n        self.age = age\n\n    def f(self):\n        return 1\n";
        let got = stored(
            Language::Python,
            py,
            &py.replace("name, age)", "name, email, age)"),
        );
        assert_eq!(
            got.as_deref(),
            Some(
                py.replace("name, age)", "name, email, age)")
                    .replace("= name\n", "= name\n        self.email = email\n")
                    .as_str()
            )
        );
        let ts = "class P {\n  constructor(name: string, age: number) {\n    this.name = name;\n    this.age = age;\n  }\n}\n";
        let after = ts.replace("age: number)", "age: number, email: string)");
        assert_eq!(
            stored(Language::TypeScript, ts, &after).as_deref(),
            Some(
                after
                    .replace("= age;\n", "= age;\n    this.email = email;\n")
                    .as_str()
            )
        );
        let java = "class P {\n  private String name;\n  P(String name, int age) {\n    this.name = name;\n    this.age = age;\n  }\n}\n";
        let after = java.replace("(String name,", "(String id, String name,");
        assert_eq!(
            stored(Language::Java, java, &after).as_deref(),
            Some(
                after
                    .replace("    this.name", "    this.id = id;\n    this.name")
                    .as_str()
            )
        );
        let php = "<?php\nclass P {\n  function __construct($name, $age) {\n    $this->name = $name;\n    $this->age = $age;\n  }\n}\n";
        let after = php.replace("$age)", "$age, $email)");
        assert_eq!(
            stored(Language::Php, php, &after).as_deref(),
            Some(
                after
                    .replace("= $age;\n", "= $age;\n    $this->email = $email;\n")
                    .as_str()
            )
        );
    }

    #[test]
    fn fields_in_literals_and_initializer_lists_follow_too() {
        let rs = "struct P { name: String, age: u32 }\nimpl P {\n    fn new(name: String, age: u32) -> Self {\n        Self { name, age }\n    }\n}\n";
        let after = rs.replace("age: u32) ->", "age: u32, email: String) ->");
        assert_eq!(
            stored(Language::Rust, rs, &after).as_deref(),
            Some(
                after
                    .replace("{ name, age }", "{ name, age, email }")
                    .as_str()
            )
        );
        let go = "func NewP(name string, age int) *P {\n\treturn &P{\n\t\tName: name,\n\t\tAge:  age,\n\t}\n}\n";
        let after = go.replace("age int)", "age int, email string)");
        assert_eq!(
            stored(Language::Go, go, &after).as_deref(),
            Some(
                after
                    .replace("Age:  age,", "Age:  age,\n\t\tEmail: email,")
                    .as_str()
            )
        );
        let cpp = "class P {\n public:\n  P(std::string name, int age) : name_(name), age_(age) {}\n  std::string name_;\n  int age_;\n};\n";
        let after = cpp.replace("int age)", "int age, int id)");
        assert_eq!(
            stored(Language::Cpp, cpp, &after).as_deref(),
            Some(after.replace("age_(age)", "age_(age), id_(id)").as_str())
        );
    }

    #[test]
    fn nothing_when_the_function_does_not_store_or_already_uses_it() {
        // Parameters used, not stored.
        let py = "def area(w, h):\n    return w * h\n";
        assert_eq!(
            stored(Language::Python, py, &py.replace("h)", "h, scale)")),
            None
        );
        // Only one of two others stored.
        let py = "class P:\n    def __init__(self, name, age):\n        self.name = name\n        self.years = age * 2\n";
        assert_eq!(
            stored(Language::Python, py, &py.replace("age)", "age, email)")),
            None
        );
        // The new parameter is already used.
        let py = "class P:\n    def __init__(self, name, age):\n        self.name = name\n        self.age = age\n        log(email)\n";
        assert_eq!(
            stored(Language::Python, py, &py.replace("age)", "age, email)")),
            None
        );
        // Its field is already assigned.
        let py = "class P:\n    def __init__(self, name, age):\n        self.name = name\n        self.age = age\n        self.email = None\n";
        assert_eq!(
            stored(Language::Python, py, &py.replace("age)", "age, email)")),
            None
        );
    }
}
