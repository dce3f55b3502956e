//! Next-edit cases from real code: a known change applied at its first site the way a user
//! types it, and the edits that truly come next. A proposal is right when applying it gives
//! one of the truth's texts; a case whose truth is empty is one where nothing else needs to
//! change (a wrong suggestion costs the user more than none).
//!
//! The truth is built from the tree with rules of its own, wider than the proposer's: a
//! method renamed at its definition must also change `self.name(…)` calls, a renamed
//! local every bare use in its function (keyword-argument names and members excepted).

use std::ops::Range;
use std::time::Instant;

use serde::Serialize;
use tree_sitter::Node;

mod constructors;
mod patterns;

use super::Rng;
use super::tasks::SourceFile;
use crate::lang::Language;
use crate::next_edit::tree::{
    for_each_leaf, for_each_node, is_keyword_name, is_name, is_shorthand, member_object,
    named_children,
};
use crate::next_edit::{self, History};

/// What kind of change a case makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// A local name (parameter or variable) renamed at its first place in its function.
    RenameLocal,
    /// A local name renamed at a later use.
    RenameUse,
    /// A function's or method's name renamed at its definition.
    RenameDefinition,
    /// A use changed to another name of the same function: nothing else changes.
    Rereference,
    /// A number changed: nothing else changes.
    Literal,
    /// A function's last parameter added back at its definition: each call in the file
    /// needs its last argument back (the model writes it; needs a model).
    AddParameter,
    /// In a run of adjacent statements shaped alike (the same syntax, names and literals
    /// aside), a name all of them share changed in the first: the others need the same.
    Pattern,
    /// In such a run, a member name all of them share (`self.assertEquals`) changed in the
    /// first to another member name the file already uses (`assertEqual`): not a rename,
    /// the others need the same.
    PatternMember,
    /// In such a run, an argument added to the first statement's call: the others need it.
    PatternArgument,
    /// In such a run, a name of the first statement that the others do not share (and the
    /// file uses nowhere else) changed: nothing else changes.
    PatternOneLine,
    /// A function that stores its parameters under their own names (a constructor) gets
    /// its last parameter back at its definition: the store of it follows.
    StoredParameter,
    /// A struct or class whose constructor takes and stores each field gets its field back
    /// (typed as a line): the constructor's parameter for it follows.
    AddedField,
}

impl Class {
    pub const ALL: [Class; 12] = [
        Class::RenameLocal,
        Class::RenameUse,
        Class::RenameDefinition,
        Class::Rereference,
        Class::Literal,
        Class::AddParameter,
        Class::Pattern,
        Class::PatternMember,
        Class::PatternArgument,
        Class::PatternOneLine,
        Class::StoredParameter,
        Class::AddedField,
    ];

    /// Classes whose answers come from the model.
    pub fn needs_model(self) -> bool {
        self == Class::AddParameter
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::RenameLocal => "rename-local",
            Class::RenameUse => "rename-use",
            Class::RenameDefinition => "rename-definition",
            Class::Rereference => "rereference",
            Class::Literal => "literal",
            Class::AddParameter => "add-parameter",
            Class::Pattern => "pattern",
            Class::PatternMember => "pattern-member",
            Class::PatternArgument => "pattern-argument",
            Class::PatternOneLine => "pattern-one-line",
            Class::StoredParameter => "stored-parameter",
            Class::AddedField => "added-field",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub class: Class,
    pub language: Language,
    pub path: String,
    /// The file after the user's edit.
    pub text: String,
    pub history: History,
    /// The texts one right next edit gives; empty when nothing else needs to change.
    pub truth: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub id: String,
    pub class: Class,
    pub shown: bool,
    pub right: bool,
    /// Something needed to change.
    pub expected: bool,
    pub label: Option<String>,
    pub micros: u64,
}

/// Up to `per_class` cases of each of `classes` from `files`, sampled by `seed`.
pub fn build(
    files: &[SourceFile],
    lang: Language,
    classes: &[Class],
    per_class: usize,
    seed: u64,
) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let mut all: Vec<Vec<Case>> = Class::ALL.iter().map(|_| Vec::new()).collect();
    for file in files {
        let Some(tree) = crate::syntax::parse(lang, &file.text, None) else {
            continue;
        };
        if crate::syntax::error_count(tree.root_node()) > 0 {
            continue;
        }
        for (i, class) in Class::ALL.iter().enumerate() {
            if !classes.contains(class) {
                continue;
            }
            let mut made = cases_in(file, lang, &tree, *class, &mut rng);
            made.truncate(2);
            all[i].extend(made);
        }
    }
    let mut out = Vec::new();
    for mut cases in all {
        rng.shuffle(&mut cases);
        cases.truncate(per_class);
        cases.sort_by(|a, b| a.id.cmp(&b.id));
        out.extend(cases);
    }
    out
}

/// Runs the proposer on `case`, the model answering through `complete` (a completion at a
/// byte offset of `case.text`).
pub fn run(case: &Case, complete: &mut next_edit::Complete<'_>) -> Outcome {
    let started = Instant::now();
    let tree = crate::syntax::parse(case.language, &case.text, None);
    let edit = tree
        .as_ref()
        .and_then(|t| next_edit::suggest(case.language, &case.text, t, &case.history, complete));
    let micros = started.elapsed().as_micros() as u64;
    let right = match &edit {
        Some(e) => case.truth.contains(&next_edit::apply(&case.text, e)),
        None => case.truth.is_empty(),
    };
    Outcome {
        id: case.id.clone(),
        class: case.class,
        shown: edit.is_some(),
        right,
        expected: !case.truth.is_empty(),
        label: edit.map(|e| e.label),
        micros,
    }
}

fn cases_in(
    file: &SourceFile,
    lang: Language,
    tree: &tree_sitter::Tree,
    class: Class,
    rng: &mut Rng,
) -> Vec<Case> {
    let text = &file.text;
    let mut out = Vec::new();
    if matches!(
        class,
        Class::Pattern | Class::PatternMember | Class::PatternArgument | Class::PatternOneLine
    ) {
        return patterns::pattern_cases(file, lang, tree, class, rng);
    }
    for (fi, func) in functions(tree.root_node()).into_iter().enumerate() {
        let id = |n: usize| format!("{}:{}:{}#{}", class.name(), file.path, fi, n);
        let locals = locals(func, text);
        match class {
            Class::RenameLocal | Class::RenameUse => {
                for (name, places) in &locals {
                    if places.len() < 2 {
                        continue;
                    }
                    let at = if class == Class::RenameLocal { 0 } else { 1 };
                    let new = fresh_name(text, name);
                    let others: Vec<_> = places
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != at)
                        .map(|(_, r)| r.clone())
                        .collect();
                    out.push(rename_case(
                        tree,
                        id(out.len()),
                        class,
                        lang,
                        file,
                        &places[at],
                        &new,
                        &others,
                    ));
                    break;
                }
            }
            Class::RenameDefinition => {
                let Some(name) = func.child_by_field_name("name") else {
                    continue;
                };
                let old = &text[name.byte_range()];
                if old.len() < 3 {
                    continue;
                }
                let mut others = Vec::new();
                for_each_leaf(tree.root_node(), &mut |n| {
                    if n.id() != name.id() && is_name(n) && &text[n.byte_range()] == old {
                        let member = member_object(n, text);
                        if member.is_none() || member == Some("self") || member == Some("this") {
                            others.push(n.byte_range());
                        }
                    }
                });
                if others.is_empty() {
                    continue;
                }
                let new = fresh_name(text, old);
                out.push(rename_case(
                    tree,
                    id(out.len()),
                    class,
                    lang,
                    file,
                    &name.byte_range(),
                    &new,
                    &others,
                ));
            }
            Class::Rereference => {
                let mut names: Vec<_> = locals.iter().filter(|(_, p)| p.len() >= 2).collect();
                if names.len() < 2 {
                    continue;
                }
                rng.shuffle(&mut names);
                let (a, pa) = names[0];
                let (b, _) = names[1];
                let site = pa.last().expect("two places").clone();
                out.push(edit_case(id(out.len()), class, lang, file, site, b));
                let _ = a;
            }
            Class::AddParameter => {
                if let Some(case) = added_parameter(tree, text, func, id(out.len()), lang, file) {
                    out.push(case);
                }
            }
            Class::StoredParameter => {
                if let Some(case) =
                    constructors::stored_parameter(text, func, id(out.len()), lang, file)
                {
                    out.push(case);
                }
            }
            Class::AddedField => {
                if let Some(case) =
                    constructors::added_field(tree, text, func, id(out.len()), lang, file)
                {
                    out.push(case);
                }
            }
            Class::Pattern
            | Class::PatternMember
            | Class::PatternArgument
            | Class::PatternOneLine => {
                unreachable!("pattern cases are made above")
            }
            Class::Literal => {
                let mut numbers = Vec::new();
                for_each_leaf(func, &mut |n| {
                    let t = &text[n.byte_range()];
                    let k = n.kind();
                    let number =
                        k.contains("integer") || k.contains("number") || k == "int_literal";
                    if number && t.len() <= 3 && t.chars().all(|c| c.is_ascii_digit()) {
                        numbers.push(n.byte_range());
                    }
                });
                if let Some(site) = numbers.first() {
                    let old: u32 = text[site.clone()].parse().unwrap_or(0);
                    out.push(edit_case(
                        id(out.len()),
                        class,
                        lang,
                        file,
                        site.clone(),
                        &(old + 1).to_string(),
                    ));
                }
            }
        }
        if out.len() >= 2 {
            break;
        }
    }
    out
}

/// `func`'s last parameter removed from its definition and the matching last argument from
/// every call of it in the file; the user types the parameter back, and each call needs
/// its argument back (as the code had it).
fn added_parameter(
    tree: &tree_sitter::Tree,
    text: &str,
    func: Node<'_>,
    id: String,
    language: Language,
    file: &SourceFile,
) -> Option<Case> {
    let name = func.child_by_field_name("name")?;
    let mut function = &text[name.byte_range()];
    // A constructor is called by its class's name (`P(…)`, `new P(…)`).
    if matches!(function, "__init__" | "constructor" | "__construct") {
        let mut n = func.parent();
        while let Some(c) = n {
            if c.kind().contains("class")
                && let Some(class) = c.child_by_field_name("name")
            {
                function = &text[class.byte_range()];
                break;
            }
            n = c.parent();
        }
    }
    let params = func.child_by_field_name("parameters")?;
    let list: Vec<Node<'_>> = named_children(params);
    if list.len() < 2 || list.iter().any(|p| text[p.byte_range()].contains('\n')) {
        return None;
    }
    let receiver = matches!(
        &text[list[0].byte_range()],
        "self" | "cls" | "&self" | "&mut self"
    );
    let passed = list.len() - usize::from(receiver);
    if passed < 2 {
        return None;
    }
    let (prev, last) = (list[list.len() - 2], list[list.len() - 1]);
    let def_cut = prev.end_byte()..last.end_byte();
    // Calls passing every argument by position, on one line.
    let mut cuts: Vec<Range<usize>> = Vec::new();
    for_each_node(tree.root_node(), &mut |n| {
        let creation = matches!(n.kind(), "new_expression" | "object_creation_expression");
        if !n.kind().contains("call") && !creation {
            return;
        }
        let callee = if creation {
            n.child_by_field_name("constructor")
                .or_else(|| n.child_by_field_name("type"))
        } else {
            n.child_by_field_name("function")
        };
        let Some(callee) = callee else {
            return;
        };
        let t = &text[callee.byte_range()];
        let named_so = t == function || t.strip_suffix(function).is_some_and(|s| s.ends_with('.'));
        let Some(args) = n.child_by_field_name("arguments").filter(|_| named_so) else {
            return;
        };
        let a = named_children(args);
        if a.len() != passed
            || text[args.byte_range()].contains('\n')
            || a.iter()
                .any(|x| x.kind().contains("keyword") || x.kind().contains("comment"))
        {
            return;
        }
        cuts.push(a[a.len() - 2].end_byte()..a[a.len() - 1].end_byte());
    });
    if cuts.is_empty() || cuts.len() > 6 {
        return None;
    }
    let without = |keep: Option<usize>, def: bool| -> String {
        let mut all: Vec<Range<usize>> = cuts
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != keep)
            .map(|(_, r)| r.clone())
            .collect();
        if def {
            all.push(def_cut.clone());
        }
        all.sort_by_key(|r| std::cmp::Reverse(r.start));
        let mut t = text.to_string();
        for r in all {
            t.replace_range(r, "");
        }
        t
    };
    let base = without(None, true);
    let shift: usize = cuts
        .iter()
        .filter(|r| r.start < def_cut.start)
        .map(|r| r.len())
        .sum();
    let at = def_cut.start - shift;
    let (after, history) = typed(&base, at..at, &text[def_cut.clone()]);
    debug_assert_eq!(after, without(None, false));
    let truth = (0..cuts.len()).map(|i| without(Some(i), false)).collect();
    Some(Case {
        id,
        class: Class::AddParameter,
        language,
        path: file.path.clone(),
        text: after,
        history,
        truth,
    })
}

/// A rename of the name at `site` to `new`, typed letter by letter; every place in
/// `others` should follow, one at a time, in any order.
#[allow(clippy::too_many_arguments)]
fn rename_case(
    tree: &tree_sitter::Tree,
    id: String,
    class: Class,
    language: Language,
    file: &SourceFile,
    site: &Range<usize>,
    new: &str,
    others: &[Range<usize>],
) -> Case {
    let (text, history) = typed(&file.text, site.clone(), new);
    let shift = |r: &Range<usize>| {
        if r.start > site.start {
            let d = new.len() as isize - site.len() as isize;
            (r.start as isize + d) as usize..(r.end as isize + d) as usize
        } else {
            r.clone()
        }
    };
    let old = &file.text[site.clone()];
    let truth = others
        .iter()
        .map(|r| {
            let mut t = text.clone();
            // A shorthand field (`Point { x, y }`) keeps its field name.
            if is_shorthand(tree.root_node(), r) {
                t.replace_range(shift(r), &format!("{old}: {new}"));
            } else {
                t.replace_range(shift(r), new);
            }
            t
        })
        .collect();
    Case {
        id,
        class,
        language,
        path: file.path.clone(),
        text,
        history,
        truth,
    }
}

/// An edit after which nothing else needs to change.
fn edit_case(
    id: String,
    class: Class,
    language: Language,
    file: &SourceFile,
    site: Range<usize>,
    new: &str,
) -> Case {
    let (text, history) = typed(&file.text, site, new);
    Case {
        id,
        class,
        language,
        path: file.path.clone(),
        text,
        history,
        truth: Vec::new(),
    }
}

/// `text` with `site` retyped as `new` the way a user does it (deleted, then typed letter by
/// letter, one change each), and the history of those changes.
fn typed(text: &str, site: Range<usize>, new: &str) -> (String, History) {
    let mut history = History::default();
    let mut cur = text.to_string();
    let mut next = cur.clone();
    next.replace_range(site.clone(), "");
    history.record(&cur, &next);
    cur = next;
    for (i, c) in new.char_indices() {
        let mut next = cur.clone();
        next.insert(site.start + i, c);
        history.record(&cur, &next);
        cur = next;
    }
    (cur, history)
}

/// A name the file does not use: `old` with a suffix.
fn fresh_name(text: &str, old: &str) -> String {
    (1..)
        .map(|i| format!("{old}_v{i}"))
        .find(|n| !text.contains(n.as_str()))
        .expect("some suffix is free")
}

/// Function-like nodes (functions, methods), outermost first.
fn functions(root: Node<'_>) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(n) = stack.pop() {
        let k = n.kind();
        if (k.contains("function") || k.contains("method") || k.contains("constructor"))
            && n.child_by_field_name("body").is_some()
        {
            out.push(n);
        }
        for i in (0..n.child_count()).rev() {
            if let Some(c) = n.child(i) {
                stack.push(c);
            }
        }
    }
    out
}

/// The bare names used in `func` (not its own name, not members, not keyword-argument
/// names), each with its places in order.
fn locals<'t>(func: Node<'t>, text: &'t str) -> Vec<(String, Vec<Range<usize>>)> {
    let own = func.child_by_field_name("name").map(|n| n.id());
    let mut by_name: Vec<(String, Option<Vec<Range<usize>>>)> = Vec::new();
    for_each_leaf(func, &mut |n| {
        if Some(n.id()) == own || n.kind() != "identifier" || member_object(n, text).is_some() {
            return;
        }
        if is_keyword_name(n) {
            return;
        }
        let t = &text[n.byte_range()];
        if t.len() < 2 || matches!(t, "self" | "this" | "cls") {
            return;
        }
        match by_name.iter_mut().find(|(name, _)| name == t) {
            Some((_, Some(p))) => p.push(n.byte_range()),
            Some((_, None)) => {}
            // A local is bound where it first appears (a parameter, an assignment, a loop
            // variable); a name that is only read here is someone else's.
            None => by_name.push((t.to_string(), binds(n).then(|| vec![n.byte_range()]))),
        }
    });
    by_name
        .into_iter()
        .filter_map(|(name, places)| Some((name, places?)))
        .collect()
}

/// True when `n` stands where a name is bound.
fn binds(n: Node<'_>) -> bool {
    n.parent().is_some_and(|p| {
        let k = p.kind();
        [
            "parameter",
            "assignment",
            "declarator",
            "let_declaration",
            "short_var",
            "var_spec",
            "for_statement",
            "for_in",
            "binding",
            "pattern",
        ]
        .iter()
        .any(|b| k.contains(b))
    })
}

/// Per class: cases, shown, right when shown (precision), found (recall), latency.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub class: String,
    pub cases: usize,
    /// Cases where something needed to change.
    pub expected: usize,
    pub shown: usize,
    pub right_shown: usize,
    pub found: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub p50_us: u64,
    pub p95_us: u64,
}

pub fn rows(outcomes: &[Outcome]) -> Vec<Row> {
    let mut out: Vec<Row> = Class::ALL
        .iter()
        .map(|c| row(c.name(), outcomes.iter().filter(|o| o.class == *c)))
        .filter(|r| r.cases > 0)
        .collect();
    out.push(row("all", outcomes.iter()));
    out
}

fn row<'a>(name: &str, outcomes: impl Iterator<Item = &'a Outcome>) -> Row {
    let outcomes: Vec<&Outcome> = outcomes.collect();
    let shown = outcomes.iter().filter(|o| o.shown).count();
    let right_shown = outcomes.iter().filter(|o| o.shown && o.right).count();
    let expected = outcomes.iter().filter(|o| o.expected).count();
    let found = outcomes
        .iter()
        .filter(|o| o.expected && o.shown && o.right)
        .count();
    let mut us: Vec<u64> = outcomes.iter().map(|o| o.micros).collect();
    us.sort_unstable();
    let pct = |p: f64| {
        us.get(((us.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let ratio = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
    Row {
        class: name.to_string(),
        cases: outcomes.len(),
        expected,
        shown,
        right_shown,
        found,
        precision: ratio(right_shown, shown),
        recall: ratio(found, expected),
        p50_us: pct(0.5),
        p95_us: pct(0.95),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_from_a_file_and_their_scores() {
        let text = "def mean(count, xs):\n    if count == 0:\n        return 0\n    return sum(xs) / count\n\n\
                    def total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n\n\
                    def use():\n    return mean(3, [1]) + total([2])\n\n\
                    class Point:\n    def __init__(self, x, y, label):\n        self.x = x\n        self.y = y\n        self.label = label\n\n\
                    def report(out):\n    out.write(alpha, 1)\n    out.write(beta, 2)\n    out.write(gamma, 3)\n    out.flush()\n";
        let file = SourceFile {
            path: "m.py".into(),
            text: text.into(),
            group: String::new(),
        };
        let tree_only: Vec<Class> = Class::ALL
            .into_iter()
            .filter(|c| !c.needs_model())
            .collect();
        let cases = build(
            std::slice::from_ref(&file),
            Language::Python,
            &tree_only,
            10,
            1,
        );
        let classes: Vec<Class> = cases.iter().map(|c| c.class).collect();
        // Python declares no fields: the added-field class is tried on Rust below.
        for c in Class::ALL
            .into_iter()
            .filter(|c| !c.needs_model() && *c != Class::AddedField)
        {
            assert!(classes.contains(&c), "no {c:?} case: {classes:?}");
        }
        for c in &cases {
            // The user's edit is in the text, and the truth is the text with one place more.
            assert_ne!(c.text, text);
            assert_eq!(
                c.truth.is_empty(),
                matches!(
                    c.class,
                    Class::Rereference | Class::Literal | Class::PatternOneLine
                )
            );
        }
        let outcomes: Vec<Outcome> = cases.iter().map(|c| run(c, &mut |_| None)).collect();
        let rows = rows(&outcomes);
        let all = rows.last().unwrap();
        assert_eq!(all.class, "all");
        assert_eq!(all.cases, cases.len());
        assert_eq!(all.precision, Some(1.0), "{outcomes:?}");
        assert_eq!(all.recall, Some(1.0), "{outcomes:?}");
        // The added parameter: the model's answer (here scripted) is the argument.
        let cases = build(&[file], Language::Python, &[Class::AddParameter], 10, 1);
        assert_eq!(cases.len(), 1, "{cases:?}");
        let c = &cases[0];
        assert!(
            c.text.contains("def mean(count, xs):") && c.text.contains("mean(3)"),
            "{}",
            c.text
        );
        let o = run(c, &mut |ask| {
            assert_eq!(&c.text[ask.offset..ask.offset + 1], ")");
            assert_eq!(ask.definition, "def mean(count, xs)");
            Some(", [1])".into())
        });
        assert!(o.shown && o.right, "{o:?}");
        let o = run(c, &mut |_| Some(", [2])".into()));
        assert!(o.shown && !o.right, "{o:?}");
    }

    #[test]
    fn a_field_taken_out_and_typed_back_and_its_parameter() {
        let text = "pub struct Span {\n    start: usize,\n    end: usize,\n    line: u32,\n}\n\n\
                    impl Span {\n    pub fn new(start: usize, end: usize, line: u32) -> Self {\n        Span { start, end, line }\n    }\n}\n";
        let file = SourceFile {
            path: "span.rs".into(),
            text: text.into(),
            group: String::new(),
        };
        let classes = [Class::AddedField, Class::StoredParameter];
        let cases = build(std::slice::from_ref(&file), Language::Rust, &classes, 10, 1);
        assert_eq!(cases.len(), 2, "{cases:?}");
        let field = cases.iter().find(|c| c.class == Class::AddedField).unwrap();
        assert!(field.text.contains("    line: u32,\n"), "{}", field.text);
        assert!(
            field.text.contains("new(start: usize, end: usize)"),
            "{}",
            field.text
        );
        assert!(field.truth[0].contains("new(start: usize, end: usize, line: u32)"));
        assert!(field.truth[0].contains("Span { start, end }"));
        for c in &cases {
            let o = run(c, &mut |_| None);
            assert!(o.shown && o.right, "{o:?}");
        }
    }
}
