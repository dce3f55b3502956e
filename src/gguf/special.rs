//! How a model spells its fill-in-the-middle and repository tokens, read from its GGUF
//! header (or a vocabulary): what a prompt written as text for a server needs, and what a
//! pulled model's entry records.

use super::Header;

/// How the model spells its special tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpecialTexts {
    pub fim_prefix: Option<String>,
    pub fim_suffix: Option<String>,
    pub fim_middle: Option<String>,
    pub repo_name: Option<String>,
    pub file_sep: Option<String>,
}

/// The spellings llama.cpp recognises when a GGUF names no id, per role.
const FIM_PRE: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
];
const FIM_SUF: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
];
const FIM_MID: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
];
const FIM_REP: &[&str] = &["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"];
const FIM_SEP: &[&str] = &["<|file_sep|>", "<|file_separator|>"];

impl SpecialTexts {
    /// The first known spelling of each role among `tokens`.
    pub fn from_vocabulary(tokens: &[String]) -> SpecialTexts {
        let find = |names: &[&str]| {
            names
                .iter()
                .find(|n| tokens.iter().any(|t| t == *n))
                .map(|n| n.to_string())
        };
        SpecialTexts {
            fim_prefix: find(FIM_PRE),
            fim_suffix: find(FIM_SUF),
            fim_middle: find(FIM_MID),
            repo_name: find(FIM_REP),
            file_sep: find(FIM_SEP),
        }
    }

    /// From a GGUF header: the ids it names (`tokenizer.ggml.fim_pre_token_id`, ...), else
    /// the first known spelling in its vocabulary.
    pub fn from_header(header: &Header) -> SpecialTexts {
        let tokens = header.strings("tokenizer.ggml.tokens").unwrap_or(&[]);
        let by_id = |key: &str| -> Option<String> {
            let id = header.int(&format!("tokenizer.ggml.{key}_token_id"))?;
            usize::try_from(id)
                .ok()
                .and_then(|i| tokens.get(i))
                .cloned()
        };
        let spelled = Self::from_vocabulary(tokens);
        SpecialTexts {
            fim_prefix: by_id("fim_pre").or(spelled.fim_prefix),
            fim_suffix: by_id("fim_suf").or(spelled.fim_suffix),
            fim_middle: by_id("fim_mid").or(spelled.fim_middle),
            repo_name: by_id("fim_rep").or(spelled.repo_name),
            file_sep: by_id("fim_sep").or(spelled.file_sep),
        }
    }

    pub fn has_fim(&self) -> bool {
        self.fim_prefix.is_some() && self.fim_suffix.is_some() && self.fim_middle.is_some()
    }

    pub fn has_repo_tokens(&self) -> bool {
        self.repo_name.is_some() && self.file_sep.is_some()
    }
}
