//! A prompt for a completion away from the cursor (a next edit's argument at a call),
//! laid out as the cursor's own prompt is: the same context from other files, the same
//! window start and preamble, the code from there up to the other place as its prefix.
//!
//! The model's cache holds the cursor's prompt (the editor asked for ghost text there a
//! moment ago). Against it, this prompt keeps the common head and moves the runs of code
//! the two share (`engine::llama::cache_plan`): it decodes the few tokens around the other
//! place where a prompt of its own decodes hundreds. It only exists for a place inside the
//! cursor's window, whose code the cache holds.

use super::{
    CompleteError, CompletionConfig, CountTokens, Input, Layout, ModelInfo, Prepared, Shape, check,
    shape_tokens,
};

/// The prompt that completes at `at` in `cursor`'s text, laid out as the prompt at
/// `cursor` with `cursor_cfg` (what ghost text there read): the prefix from the window's
/// start to `at`, the suffix from `at` to the window's end; `cfg` gives the answer's
/// limits. `None` when `at` lies outside the cursor's window.
pub fn prepare_aside(
    cursor: &Input<'_>,
    cursor_cfg: &CompletionConfig,
    at: usize,
    cfg: &CompletionConfig,
    counter: &dyn CountTokens,
    model: &ModelInfo,
) -> Result<Option<Prepared>, CompleteError> {
    check(cursor, model)?;
    let text = cursor.text;
    if at > text.len() || !text.is_char_boundary(at) {
        return Err(CompleteError::BadPosition {
            offset: at,
            len: text.len(),
        });
    }
    let cursor_shape = Shape::at(text, cursor.offset, cursor.language, cursor_cfg);
    let layout = Layout::at(
        cursor,
        cursor_cfg,
        counter,
        model,
        shape_tokens(&cursor_shape, cursor_cfg),
    );
    let window_end = cursor.offset + layout.window.suffix.len();
    if at < layout.start(cursor) || at > window_end {
        return Ok(None);
    }
    // The suffix ends where the cursor's does: the code after the cursor keeps its cells
    // (moved, as while typing), and what lies between the cursor and `at` is decoded
    // afresh on its new side of the hole. (Cells moved from the suffix into the prefix,
    // a shorter suffix's layout, cost a fifth of the right answers in Rust.)
    let suffix = &text[at..window_end];
    let shape = Shape::at(text, at, cursor.language, cfg);
    let max_tokens = shape_tokens(&shape, cfg);
    let prepared = layout.render(cursor, at, suffix, shape, max_tokens, counter, model);
    let total = prepared.prefix_tokens
        + prepared.suffix_tokens
        + prepared.context_tokens
        + max_tokens as usize
        + 32;
    Ok((total <= model.n_ctx as usize).then_some(prepared))
}
