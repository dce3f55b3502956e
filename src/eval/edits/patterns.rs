//! Next-edit cases of the repeated-pattern classes: runs of statements shaped alike, read
//! from the tree (the rule under test reads tokens), and the change each class makes in
//! the first statement of a run.

use std::ops::Range;

use tree_sitter::Node;

use super::{Case, Class, edit_case, fresh_name, rename_case, typed};
use crate::eval::Rng;
use crate::eval::tasks::SourceFile;
use crate::lang::Language;
use crate::next_edit;
use crate::next_edit::tree::{for_each_leaf, for_each_node, is_name, named_children};

/// Runs of at least [`next_edit::pattern::MIN_RUN`] adjacent statements shaped alike: each
/// on a line of its own, on consecutive lines, with the same leaves kind for kind, the same
/// text but for names and literals, and not all the same. Read from the tree (the rule
/// reads tokens): each run as its statements' leaves.
fn runs<'t>(root: Node<'t>, text: &str) -> Vec<Vec<Vec<Node<'t>>>> {
    let literal = |n: Node<'_>| {
        let k = n.kind();
        is_name(n)
            || k.contains("integer")
            || k.contains("number")
            || k.contains("float")
            || k.contains("string")
            || k.contains("char")
    };
    let same = |a: &[Node<'_>], b: &[Node<'_>]| {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.kind() == y.kind()
                    && (literal(*x) || text[x.byte_range()] == text[y.byte_range()])
            })
    };
    let mut out = Vec::new();
    for_each_node(root, &mut |parent| {
        let kids = named_children(parent);
        let mut run: Vec<(Node<'t>, Vec<Node<'t>>)> = Vec::new();
        let mut flush = |run: &mut Vec<(Node<'t>, Vec<Node<'t>>)>| {
            let leaves: Vec<Vec<Node<'t>>> = run.drain(..).map(|(_, l)| l).collect();
            let varies = leaves.iter().any(|l| {
                l.iter()
                    .zip(&leaves[0])
                    .any(|(a, b)| text[a.byte_range()] != text[b.byte_range()])
            });
            if leaves.len() >= next_edit::pattern::MIN_RUN && varies {
                out.push(leaves);
            }
        };
        for k in kids {
            let one_line = k.start_position().row == k.end_position().row;
            let mut leaves = Vec::new();
            for_each_leaf(k, &mut |n| leaves.push(n));
            let follows = run.last().is_some_and(|(prev, l)| {
                prev.end_position().row + 1 == k.start_position().row
                    && prev.start_position().column == k.start_position().column
                    && same(l, &leaves)
            });
            if !follows {
                flush(&mut run);
            }
            if one_line && leaves.len() >= 3 {
                run.push((k, leaves));
            } else {
                flush(&mut run);
            }
        }
        flush(&mut run);
    });
    out
}

/// Pattern cases of `class` in `file`: one per run, at most two.
pub(super) fn pattern_cases(
    file: &SourceFile,
    lang: Language,
    tree: &tree_sitter::Tree,
    class: Class,
    rng: &mut Rng,
) -> Vec<Case> {
    let text = &file.text;
    let mut runs = runs(tree.root_node(), text);
    rng.shuffle(&mut runs);
    let mut out = Vec::new();
    for (ri, run) in runs.iter().enumerate() {
        let id = format!("{}:{}:{}", class.name(), file.path, ri);
        let at = |s: usize, i: usize| run[s][i].byte_range();
        let texts =
            |i: usize| -> Vec<&str> { run.iter().map(|l| &text[l[i].byte_range()]).collect() };
        let case = match class {
            Class::Pattern | Class::PatternMember => {
                let member = |i: usize| {
                    i >= 2 && matches!(&text[run[0][i - 1].byte_range()], "." | "::" | "->")
                };
                // The last name every statement has the same.
                (0..run[0].len())
                    .rev()
                    .find(|&i| {
                        let t = texts(i);
                        // Not the receiver: changing it is a rename (the rename classes').
                        let shared = is_name(run[0][i])
                            && t.iter().all(|x| *x == t[0])
                            && t[0].len() >= 2
                            && !matches!(t[0], "self" | "this" | "cls" | "super")
                            && run.iter().all(|l| {
                                l.iter().filter(|n| text[n.byte_range()] == *t[0]).count() == 1
                            });
                        let same_object = || texts(i - 2).iter().all(|x| *x == texts(i - 2)[0]);
                        if class == Class::PatternMember {
                            shared && member(i)
                        } else {
                            // Once a statement, and a member of the same object in each:
                            // the next place a rename of it finds is the run's next
                            // statement, so both readings agree on the next edit.
                            shared && (!member(i) || same_object())
                        }
                    })
                    .and_then(|i| {
                        let old = &text[at(0, i)];
                        let new = if class == Class::PatternMember {
                            other_member(tree.root_node(), text, run[0][i].kind(), old, rng)?
                        } else {
                            fresh_name(text, old)
                        };
                        // A rename's case: typed at the first statement, each other
                        // statement's place the next edit.
                        let others: Vec<Range<usize>> = (1..run.len()).map(|s| at(s, i)).collect();
                        Some(rename_case(
                            tree,
                            id,
                            class,
                            lang,
                            file,
                            &at(0, i),
                            &new,
                            &others,
                        ))
                    })
            }
            Class::PatternArgument => {
                // The last `)` of a call's arguments, after at least one argument.
                (0..run[0].len())
                    .rev()
                    .find(|&i| {
                        let n = run[0][i];
                        text[n.byte_range()] == *")"
                            && n.parent().is_some_and(|p| p.kind().contains("argument"))
                            && i > 0
                            && &text[run[0][i - 1].byte_range()] != "("
                    })
                    .map(|i| {
                        let arg = if lang == Language::Python {
                            ", strict=True"
                        } else {
                            ", true"
                        };
                        let places: Vec<usize> = (0..run.len()).map(|s| at(s, i).start).collect();
                        let (after, history) = typed(text, places[0]..places[0], arg);
                        let truth = places[1..]
                            .iter()
                            .map(|p| {
                                let mut t = after.clone();
                                t.insert_str(p + arg.len(), arg);
                                t
                            })
                            .collect();
                        Case {
                            id,
                            class,
                            language: lang,
                            path: file.path.clone(),
                            text: after,
                            history,
                            truth,
                        }
                    })
            }
            Class::PatternOneLine => (0..run[0].len())
                .find(|&i| {
                    let t = texts(i);
                    is_name(run[0][i])
                        && t[1..].iter().all(|x| *x != t[0])
                        && t[0].len() >= 2
                        && text.matches(t[0]).count() == 1
                })
                .map(|i| {
                    let site = at(0, i);
                    let new = fresh_name(text, &text[site.clone()]);
                    edit_case(id, class, lang, file, site, &new)
                }),
            _ => None,
        };
        out.extend(case);
        if out.len() >= 2 {
            break;
        }
    }
    out
}

/// A member name of `kind` the file uses (after `.`, `::` or `->`) other than `old`, picked
/// by `rng` among the most used.
fn other_member(
    root: Node<'_>,
    text: &str,
    kind: &str,
    old: &str,
    rng: &mut Rng,
) -> Option<String> {
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut prev: Option<Node<'_>> = None;
    for_each_leaf(root, &mut |n| {
        let after_member = prev.is_some_and(|p| matches!(&text[p.byte_range()], "." | "::" | "->"));
        let t = &text[n.byte_range()];
        if after_member && n.kind() == kind && t != old && t.len() >= 2 {
            *counts.entry(t).or_default() += 1;
        }
        prev = Some(n);
    });
    let mut names: Vec<(&str, usize)> = counts.into_iter().collect();
    names.sort_by_key(|(t, n)| (std::cmp::Reverse(*n), *t));
    names.truncate(5);
    rng.shuffle(&mut names);
    names.first().map(|(t, _)| t.to_string())
}
