//! The added-parameter rule: the user's last edit gave a function one more parameter; the
//! next edit is the new argument at the next call of it in the file that still passes the
//! old number. Where the call is comes from the tree; what the argument is comes from the
//! model, asked for a completion just before the call's `)`, from a prompt laid out as the
//! ghost text's at the edit so that the model's cache serves most of it ([`prepare`]; the
//! new signature is in the prompt either way).

use std::ops::Range;

use tree_sitter::{Node, Tree};

use super::history::{History, Hunk};
use super::tree::{for_each_node, is_name, named_children};
use crate::complete::{self, CompleteError, Input, Prepared};
use crate::config::CompletionConfig;
use crate::engine::ModelInfo;
use crate::lang::Language;
use crate::tokenizer::CountTokens;

/// A call that needs the new argument, and where the model is asked to write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    /// The function's name.
    pub function: String,
    /// Byte offset just before the call's closing `)`.
    pub offset: usize,
    /// The call's arguments before the edit: none (`f()`) or some (`f(a)`: the answer
    /// must start with a comma).
    pub had_arguments: bool,
    /// The call passes every argument by position (no `name=value`): a Python answer
    /// `name=value` is written `value` there, in the call's own style.
    pub positional: bool,
    /// Calls that still need it after this one.
    pub remaining: usize,
    /// The definition's header as it is now (`def area(w, h, scale)`), on one line: what
    /// the model must know, wherever the call is.
    pub definition: String,
}

/// Tokens of the code before the call, and after it, that the model reads for an argument:
/// the call's surroundings, not the file. With the definition shown before the file, a
/// short prompt reads in a fraction of a full one's time (BENCHMARKS.md, "Next-edit
/// suggestions").
pub const PREFIX_TOKENS: usize = 512;
pub const SUFFIX_TOKENS: usize = 128;

/// The completion settings for an argument's prompt: `base` with the short budgets.
pub fn prompt_config(base: &CompletionConfig) -> CompletionConfig {
    CompletionConfig {
        prefix_tokens: PREFIX_TOKENS,
        suffix_tokens: SUFFIX_TOKENS,
        ..base.clone()
    }
}

/// The prompt an argument is written from, and the settings to finish it with. `cursor`
/// is the document at the user's last edit, where the editor's ghost text just read its
/// prompt with `cursor_cfg` (the context and repository name set as that prompt had
/// them): laid out as that prompt, the call's surroundings come from the cells it left
/// ([`complete::prepare_aside`]), with the call's own short prompt (the definition, then
/// the call's surroundings) as the engine's alternative for when the cache holds
/// something else. The short prompt alone where the call is outside the cursor's window.
pub fn prepare(
    ask: &Ask,
    cursor: &Input<'_>,
    cursor_cfg: &CompletionConfig,
    counter: &dyn CountTokens,
    model: &ModelInfo,
) -> Result<(Prepared, CompletionConfig), CompleteError> {
    let cfg = prompt_config(cursor_cfg);
    let context = vec![definition_context(cursor.path.unwrap_or("file"), ask)];
    let mut at_call = *cursor;
    at_call.offset = ask.offset;
    at_call.context = &context;
    let short = complete::prepare(&at_call, &cfg, counter, model)?;
    let prepared =
        match complete::prepare_aside(cursor, cursor_cfg, ask.offset, &cfg, counter, model)? {
            Some(aside) => Prepared {
                alternative: Some(short.prompt),
                ..aside
            },
            None => short,
        };
    Ok((prepared, cfg))
}

/// The definition, as the code the model reads before the file (the file's own path).
pub fn definition_context(path: &str, ask: &Ask) -> crate::context::ContextFile {
    crate::context::ContextFile {
        path: path.to_string(),
        text: format!("{}\n", ask.definition),
    }
}

/// A parameter list that one hunk of the history grew by one parameter.
pub(super) struct Grown<'t> {
    /// The definition (the node with the body) and its parameter list.
    pub def: Node<'t>,
    pub params: Node<'t>,
    /// The parameters before the hunk (receiver included).
    pub before: usize,
    /// The added parameter, when the hunk lies in one.
    pub added: Option<Node<'t>>,
}

/// The parameter list `hunk` (of the current `text`) added one parameter to, if it did.
pub(super) fn grown<'t>(
    text: &str,
    tree: &'t Tree,
    hunk: &Hunk,
    lang: Language,
) -> Option<Grown<'t>> {
    let root = tree.root_node();
    let params = enclosing(root, hunk.start, is_parameters)?;
    let after = named_children(params).len();
    // The same list before the edit: the text with the hunk undone, parsed.
    let mut before_text = text.to_string();
    before_text.replace_range(hunk.range(), &hunk.old);
    let before_tree = crate::syntax::parse(lang, &before_text, None)?;
    let before_params = enclosing(before_tree.root_node(), hunk.start, |n| {
        is_parameters(n) && n.start_byte() == params.start_byte()
    })?;
    let before_list: Vec<&str> = named_children(before_params)
        .iter()
        .map(|p| &before_text[p.byte_range()])
        .collect();
    let before = before_list.len();
    if after != before + 1 {
        return None;
    }
    // The one parameter whose text the list did not have.
    let new: Vec<Node<'t>> = named_children(params)
        .into_iter()
        .filter(|p| !before_list.contains(&&text[p.byte_range()]))
        .collect();
    let added = (new.len() == 1).then(|| new[0]);
    let def = enclosing(params, params.start_byte(), |n| {
        n.child_by_field_name("body").is_some()
    })?;
    Some(Grown {
        def,
        params,
        before,
        added,
    })
}

/// The most recent hunk of `history` that grew a parameter list, with every later hunk
/// inside that definition or in a call of it (the user, or a proposal taken, went on in the
/// same function or passed the argument at a call: neither ends the other calls' need of
/// it).
pub(super) fn last_grown<'t>(
    text: &str,
    tree: &'t Tree,
    history: &History,
    lang: Language,
) -> Option<Grown<'t>> {
    let hunks: Vec<&Hunk> = history.hunks().collect();
    for (i, hunk) in hunks.iter().enumerate().rev() {
        if let Some(g) = grown(text, tree, hunk, lang) {
            // The definition's whole lines, its last newline included.
            let start = text[..g.def.start_byte()].rfind('\n').map_or(0, |i| i + 1);
            let end = text[g.def.end_byte()..]
                .find('\n')
                .map_or(text.len(), |i| g.def.end_byte() + i + 1);
            let function = called_name(g.def, g.params, text);
            let later_inside = hunks[i + 1..].iter().all(|h| {
                start <= h.start && h.range().end <= end
                    || function.is_some_and(|f| in_call_of(tree.root_node(), text, f, h))
            });
            return later_inside.then_some(g);
        }
    }
    None
}

/// True when `hunk` lies in the arguments of a call of `function` (an argument the user,
/// or a proposal taken, added).
fn in_call_of(root: Node<'_>, text: &str, function: &str, hunk: &Hunk) -> bool {
    let r = hunk.range();
    let mut n = root.descendant_for_byte_range(r.start, r.end);
    while let Some(a) = n {
        if let Some(args) = arguments_of(a, text, function) {
            return args.start_byte() <= r.start && r.end <= args.end_byte();
        }
        n = a.parent();
    }
    false
}

/// The function a definition defines, as its calls name it: a constructor (`__init__`,
/// `constructor`, `__construct`) is called by its class's name.
fn called_name<'a>(def: Node<'_>, params: Node<'_>, text: &'a str) -> Option<&'a str> {
    let name = def
        .child_by_field_name("name")
        .or_else(|| params.parent()?.child_by_field_name("declarator"))
        .filter(|n| is_name(*n))?;
    let own = &text[name.byte_range()];
    if !matches!(own, "__init__" | "constructor" | "__construct") {
        return Some(own);
    }
    let mut n = def.parent();
    while let Some(c) = n {
        if c.kind().contains("class") && c.child_by_field_name("name").is_some() {
            let class = c.child_by_field_name("name")?;
            return Some(&text[class.byte_range()]);
        }
        n = c.parent();
    }
    None
}

/// The call the history (a parameter added, by the last hunk or one [`last_grown`] finds)
/// leads to, if any.
pub fn find(text: &str, tree: &Tree, history: &History, lang: Language) -> Option<Ask> {
    let hunk = history.last()?;
    let root = tree.root_node();
    let Grown {
        def,
        params,
        before,
        ..
    } = last_grown(text, tree, history, lang)?;
    let function = called_name(def, params, text)?.to_string();
    // A method's receiver is not passed between the parentheses.
    let receiver = params.named_child(0).is_some_and(|p| {
        matches!(
            &text[p.byte_range()],
            "self" | "cls" | "&self" | "&mut self"
        )
    });
    let passed = before - usize::from(receiver);
    let mut calls: Vec<(usize, bool, bool)> = Vec::new();
    for_each_node(root, &mut |n| {
        let Some(args) = arguments_of(n, text, &function) else {
            return;
        };
        if named_children(args).len() == passed && text[..args.end_byte()].ends_with(')') {
            let mut c = args.walk();
            let positional = !args
                .named_children(&mut c)
                .any(|a| a.kind().contains("keyword"));
            calls.push((args.end_byte() - 1, passed > 0, positional));
        }
    });
    let next = calls
        .iter()
        .position(|(at, _, _)| *at > hunk.start)
        .unwrap_or(0);
    let (offset, had_arguments, positional) = *calls.get(next)?;
    let header = &text[def.start_byte()..params.end_byte()];
    Some(Ask {
        function,
        offset,
        had_arguments,
        positional: positional && lang == Language::Python,
        remaining: calls.len() - 1,
        definition: header.split_whitespace().collect::<Vec<_>>().join(" "),
    })
}

/// The edit the model's `answer` at `ask` makes: the argument inserted before `)`, or
/// `None` when the answer is not one (empty, several lines, no comma where one is needed).
pub fn edit(ask: &Ask, answer: &str) -> Option<(Range<usize>, String)> {
    let line = answer.lines().next().unwrap_or("");
    // The answer runs to the call's end at most.
    let arg = line[..scan(line).close.unwrap_or(line.len())].trim_end();
    let arg = arg.strip_suffix(',').unwrap_or(arg).trim_end();
    let starts_with_comma = arg.trim_start().starts_with(',');
    if arg.trim().is_empty() || arg.trim() == "," || starts_with_comma != ask.had_arguments {
        return None;
    }
    // One parameter was added: one argument, not two (`, path, parent`).
    if top_level_commas(arg) != usize::from(ask.had_arguments) {
        return None;
    }
    if ask.positional
        && let Some((lead, value)) = keyword_value(arg)
    {
        return Some((ask.offset..ask.offset, format!("{lead}{value}")));
    }
    Some((ask.offset..ask.offset, arg.to_string()))
}

/// `(", ", "value")` for an answer `, name=value` (a keyword argument, not `==`).
fn keyword_value(arg: &str) -> Option<(&str, &str)> {
    let body = arg.trim_start_matches([',', ' ']);
    let lead = &arg[..arg.len() - body.len()];
    let (name, value) = body.split_once('=')?;
    let name_ok = !name.is_empty()
        && name
            .trim_end()
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_');
    (name_ok && !value.starts_with('=') && !value.trim().is_empty())
        .then(|| (lead, value.trim_start()))
}

/// Commas outside brackets and string literals.
fn top_level_commas(s: &str) -> usize {
    scan(s).commas
}

struct Scan {
    /// Commas outside brackets and string literals.
    commas: usize,
    /// The byte offset of the first `)` that closes nothing opened in the text.
    close: Option<usize>,
}

fn scan(s: &str) -> Scan {
    let (mut depth, mut quote, mut commas) = (0i32, None, 0);
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(_), '\\') => {
                chars.next();
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'' | '`') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') if depth == 0 => {
                return Scan {
                    commas,
                    close: Some(i),
                };
            }
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => commas += 1,
            _ => {}
        }
    }
    Scan {
        commas,
        close: None,
    }
}

pub(super) fn is_parameters(n: Node<'_>) -> bool {
    let k = n.kind();
    k == "parameters" || k == "formal_parameters" || k == "parameter_list"
}

/// The innermost node around `offset` that `want` accepts.
pub(super) fn enclosing<'t>(
    root: Node<'t>,
    offset: usize,
    want: impl Fn(Node<'t>) -> bool,
) -> Option<Node<'t>> {
    let mut n = root.descendant_for_byte_range(offset, offset)?;
    loop {
        if want(n) {
            return Some(n);
        }
        n = n.parent()?;
    }
}

/// The argument list of `n` when it is a call of `function` (`f(…)`, `obj.f(…)`,
/// `Type::f(…)`).
fn arguments_of<'t>(n: Node<'t>, text: &str, function: &str) -> Option<Node<'t>> {
    // `new P(…)` calls a constructor by its class's name.
    let creation = matches!(n.kind(), "new_expression" | "object_creation_expression");
    if !n.kind().contains("call") && n.kind() != "method_invocation" && !creation {
        return None;
    }
    let callee = if creation {
        n.child_by_field_name("constructor")
            .or_else(|| n.child_by_field_name("type"))?
    } else {
        n.child_by_field_name("function")
            .or_else(|| n.child_by_field_name("name"))?
    };
    let t = &text[callee.byte_range()];
    let named = t == function
        || [".", "::", "->"]
            .iter()
            .any(|sep| t.strip_suffix(function).is_some_and(|s| s.ends_with(sep)));
    if !named {
        return None;
    }
    n.child_by_field_name("arguments")
}
