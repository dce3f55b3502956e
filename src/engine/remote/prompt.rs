//! Prompts as text for a server: quill builds the same prompt as for the in-process model,
//! and the special tokens it names by role are written as the model's own spelling of them,
//! read from the model's GGUF header (the server parses them back into tokens).

use crate::engine::{EngineError, Piece, Special};
use crate::gguf::SpecialTexts;

/// Reading a model's spellings and writing prompts with them (the spellings themselves
/// are a GGUF fact: [`crate::gguf::SpecialTexts`]).
impl SpecialTexts {
    /// From a model file: a GGUF's header, or a Hugging Face `tokenizer.json`'s added
    /// tokens.
    pub fn from_file(path: &std::path::Path) -> Result<SpecialTexts, EngineError> {
        if crate::tokenizer::is_tokenizer_json(path) {
            let t = crate::tokenizer::HfTokenizer::from_file(path)
                .map_err(|e| EngineError::LoadFailed(e.to_string()))?;
            return Ok(Self::from_vocabulary(&t.added_tokens()));
        }
        let header =
            crate::gguf::read_header(path).map_err(|e| EngineError::LoadFailed(e.to_string()))?;
        Ok(Self::from_header(&header))
    }

    pub fn get(&self, s: Special) -> Option<&str> {
        match s {
            Special::FimPrefix => self.fim_prefix.as_deref(),
            Special::FimSuffix => self.fim_suffix.as_deref(),
            Special::FimMiddle => self.fim_middle.as_deref(),
            Special::RepoName => self.repo_name.as_deref(),
            Special::FileSep => self.file_sep.as_deref(),
        }
    }

    /// The prompt as one text. A conversation cannot be written this way: it goes to the
    /// server's chat endpoint instead (see [`chat`]).
    pub fn render(&self, prompt: &[Piece]) -> Result<String, EngineError> {
        let mut out = String::new();
        for piece in prompt {
            match piece {
                Piece::Text(t) | Piece::Markup(t) => out.push_str(t),
                Piece::Special(s) => out.push_str(self.get(*s).ok_or(match s {
                    Special::FimPrefix | Special::FimSuffix | Special::FimMiddle => {
                        EngineError::NoFim(
                            "no fill-in-the-middle tokens in the model file quill was given for the server's model (--model)"
                                .into(),
                        )
                    }
                    other => EngineError::MissingSpecial(*other),
                })?),
                Piece::Chat(_) => {
                    return Err(EngineError::Backend(
                        "a conversation cannot be part of a text prompt".into(),
                    ));
                }
            }
        }
        Ok(out)
    }
}

/// The conversation of a prompt that is one, for a chat endpoint.
pub fn chat(prompt: &[Piece]) -> Option<&[crate::engine::ChatMessage]> {
    match prompt {
        [Piece::Chat(m)] => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{Header, Value};
    use std::collections::HashMap;

    fn header(tokens: &[&str], ids: &[(&str, i64)]) -> Header {
        let mut metadata = HashMap::new();
        metadata.insert(
            "tokenizer.ggml.tokens".to_string(),
            Value::StrArray(tokens.iter().map(|t| t.to_string()).collect()),
        );
        for (k, v) in ids {
            metadata.insert(format!("tokenizer.ggml.{k}_token_id"), Value::Int(*v));
        }
        Header {
            version: 3,
            metadata,
            n_tensors: 0,
            data_offset: 0,
            data_size: 0,
        }
    }

    #[test]
    fn special_tokens_by_id_or_spelling() {
        let h = header(
            &[
                "a",
                "<|fim_prefix|>",
                "<|fim_suffix|>",
                "<|fim_middle|>",
                "<|file_sep|>",
                "<|repo_name|>",
                "<X>",
            ],
            &[("fim_mid", 6)],
        );
        let s = SpecialTexts::from_header(&h);
        assert_eq!(s.fim_prefix.as_deref(), Some("<|fim_prefix|>"));
        // An id in the header wins over a spelling.
        assert_eq!(s.fim_middle.as_deref(), Some("<X>"));
        assert!(s.has_fim() && s.has_repo_tokens());
        let text = s
            .render(&[
                Piece::Special(Special::FimPrefix),
                Piece::Text("def f(".into()),
                Piece::Special(Special::FimSuffix),
                Piece::Text(")".into()),
                Piece::Special(Special::FimMiddle),
            ])
            .unwrap();
        assert_eq!(text, "<|fim_prefix|>def f(<|fim_suffix|>)<X>");
    }

    #[test]
    fn a_model_without_fim_tokens_is_refused_for_completions() {
        let s = SpecialTexts::from_header(&header(&["a", "b"], &[]));
        assert!(!s.has_fim());
        let err = s.render(&[Piece::Special(Special::FimPrefix)]).unwrap_err();
        assert!(matches!(err, EngineError::NoFim(_)), "{err}");
        assert!(s.render(&[Piece::Text("plain".into())]).is_ok());
    }
}
