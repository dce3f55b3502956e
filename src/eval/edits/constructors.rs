//! Next-edit cases of the constructor classes: a function that stores its parameters under
//! their own names (`self.q = q`, `Self { q }`, `q_(q)`), and the struct or class whose
//! fields it stores. The truth is the code as it was.

use std::ops::Range;

use tree_sitter::Node;

use super::{Case, Class, typed};
use crate::eval::tasks::SourceFile;
use crate::lang::Language;
use crate::next_edit::field::{declared, is_field_declaration, parameters_of};
use crate::next_edit::store::{param_name, store_removal, stored_fields, use_count};
use crate::next_edit::tree::{for_each_node, named_children};

/// `func`'s last parameter and its store (`self.q = q`, `Self { q }`, `q_(q)`) removed;
/// the user types the parameter back, and the store should follow where it was. Only
/// where the function stores at least two of its other parameters (one, when it has one)
/// and uses the last one nowhere but in its store.
pub(super) fn stored_parameter(
    text: &str,
    func: Node<'_>,
    id: String,
    language: Language,
    file: &SourceFile,
) -> Option<Case> {
    let params = parameters_of(func)?;
    let list = named_children(params);
    let k = list.len().checked_sub(1).filter(|k| *k > 0)?;
    let is_receiver = |n: &str| matches!(n, "self" | "this" | "cls");
    let name = param_name(list[k], text).filter(|n| !is_receiver(n))?;
    let removal = store_removal(func, params, text, name, k)?;
    if use_count(func, params, text, name) != 1 {
        return None;
    }
    let others: Vec<usize> = (0..k)
        .filter(|i| param_name(list[*i], text).is_some_and(|n| !is_receiver(n)))
        .collect();
    let stored = others
        .iter()
        .filter(|i| {
            let n = param_name(list[**i], text).expect("named above");
            store_removal(func, params, text, n, **i).is_some()
        })
        .count();
    if stored == 0 || stored < others.len().min(2) {
        return None;
    }
    let def_cut = list[k - 1].end_byte()..list[k].end_byte();
    if removal.start < def_cut.end {
        return None;
    }
    let mut base = text.to_string();
    base.replace_range(removal.clone(), "");
    base.replace_range(def_cut.clone(), "");
    let at = def_cut.start;
    let (after, history) = typed(&base, at..at, &text[def_cut.clone()]);
    Some(Case {
        id,
        class: Class::StoredParameter,
        language,
        path: file.path.clone(),
        text: after,
        history,
        truth: vec![text.to_string()],
    })
}

/// `func` (a constructor that takes and stores at least two other fields) loses its last
/// parameter, the store of it, and the declaration of the field it is stored in; the user
/// types the declaration back as a line, and the parameter should follow where it was
/// (its store is the next step, measured by stored-parameter).
pub(super) fn added_field(
    tree: &tree_sitter::Tree,
    text: &str,
    func: Node<'_>,
    id: String,
    language: Language,
    file: &SourceFile,
) -> Option<Case> {
    let params = parameters_of(func)?;
    let list = named_children(params);
    let k = list.len().checked_sub(1).filter(|k| *k > 0)?;
    let stored = stored_fields(func, params, text);
    let last = stored.iter().find(|s| s.param.id() == list[k].id())?;
    if stored.len() < 3.min(list.len()) || use_count(func, params, text, &last.name) != 1 {
        return None;
    }
    // The one declaration of the field, alone on its line.
    let mut decls = Vec::new();
    for_each_node(tree.root_node(), &mut |n| {
        if is_field_declaration(n) && declared(n, text).is_some_and(|(f, _)| f == last.field) {
            decls.push(n);
        }
    });
    let [decl] = decls[..] else {
        return None;
    };
    let line_start = text[..decl.start_byte()].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[decl.end_byte()..]
        .find('\n')
        .map(|i| decl.end_byte() + i + 1)?;
    let trim = |s: &str| s.trim().trim_end_matches([',', ';']).to_string();
    if trim(&text[line_start..line_end]) != trim(&text[decl.byte_range()]) {
        return None;
    }
    let line = line_start..line_end;
    let store = store_removal(func, params, text, &last.name, k)?;
    let param = list[k - 1].end_byte()..list[k].end_byte();
    let mut cuts = [line.clone(), param, store.clone()];
    cuts.sort_by_key(|r| r.start);
    if cuts.windows(2).any(|w| w[0].end > w[1].start) {
        return None;
    }
    let cut = |keep: &[&Range<usize>]| {
        let mut t = text.to_string();
        for r in cuts.iter().rev().filter(|r| !keep.contains(r)) {
            t.replace_range(r.clone(), "");
        }
        t
    };
    let base = cut(&[]);
    let at = line.start
        - cuts
            .iter()
            .filter(|r| r.end <= line.start)
            .map(|r| r.len())
            .sum::<usize>();
    let (after, history) = typed(&base, at..at, &text[line.clone()]);
    // The parameter back, its store not yet.
    let truth = {
        let mut t = text.to_string();
        t.replace_range(store, "");
        t
    };
    Some(Case {
        id,
        class: Class::AddedField,
        language,
        path: file.path.clone(),
        text: after,
        history,
        truth: vec![truth],
    })
}
