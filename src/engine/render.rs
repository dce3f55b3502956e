//! A prompt as text: special tokens as `<|fim_prefix|>`-style markers, conversations in
//! ChatML. What `--show-prompt`, eval dumps and the server's debug log print, and what the
//! fake engine tokenizes.

use super::{ChatMessage, Piece, Special};

/// Renders a prompt as text, special tokens as `<|fim_prefix|>`-style markers and chats
/// in ChatML (what Qwen's template produces).
pub fn render(prompt: &[Piece]) -> String {
    let mut out = String::new();
    for piece in prompt {
        match piece {
            Piece::Text(t) | Piece::Markup(t) => out.push_str(t),
            Piece::Special(s) => out.push_str(marker(*s)),
            Piece::Chat(messages) => out.push_str(&chatml(messages)),
        }
    }
    out
}

pub(crate) fn chatml(messages: &[ChatMessage]) -> String {
    let mut out = String::new();
    for m in messages {
        out.push_str(&format!(
            "<|im_start|>{}\n{}<|im_end|>\n",
            m.role, m.content
        ));
    }
    out.push_str("<|im_start|>assistant\n");
    out
}

pub(crate) fn marker(s: Special) -> &'static str {
    match s {
        Special::FimPrefix => "<|fim_prefix|>",
        Special::FimSuffix => "<|fim_suffix|>",
        Special::FimMiddle => "<|fim_middle|>",
        Special::RepoName => "<|repo_name|>",
        Special::FileSep => "<|file_sep|>",
    }
}
