//! Token counting for prompt budgets, with a `tokenizers` BPE built from the GGUF's own
//! vocabulary and merges.
//!
//! Why not ask llama.cpp? Its tokenizer lives with the model on the engine thread; the
//! prompt builder and context builder run elsewhere (LSP handlers, the CLI, the evaluation
//! tool) and count tokens for many candidate snippets. This tokenizer is `Send + Sync`,
//! needs no weights, and is checked against llama.cpp's token for token in the
//! real-model tests. The engine still tokenizes the final prompt with llama.cpp, so an
//! unknown pre-tokenizer only makes budgets approximate, never the model's input wrong.

use std::sync::Arc;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

use crate::gguf::Header;

/// Counts tokens of plain text (special tokens are never parsed out of it).
pub trait CountTokens: Send + Sync {
    fn count(&self, text: &str) -> usize;
}

/// A shared token counter.
pub type Counter = Arc<dyn CountTokens>;

/// A byte-level BPE tokenizer rebuilt from `tokenizer.ggml.*` metadata.
pub struct GgufTokenizer {
    inner: Tokenizer,
    /// True when the pre-tokenizer named in the file is one this module knows exactly.
    pub exact: bool,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("exact", &self.exact)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("the model's tokenizer is {0:?}; quill builds budgets only for byte-level BPE (gpt2)")]
    Unsupported(String),
    #[error("the model file has no {0}")]
    Missing(&'static str),
    #[error("cannot build the tokenizer: {0}")]
    Build(String),
}

// Pre-tokenizer expressions, as llama.cpp's llama-vocab.cpp uses them for each
// `tokenizer.ggml.pre`.
const QWEN2: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const LLAMA3: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const GPT2: &[&str] = &[r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const SMOLLM: &[&str] = &[
    r"\p{N}",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
];

fn pre_tokenizer_exprs(pre: &str) -> Option<&'static [&'static str]> {
    Some(match pre {
        "qwen2" | "deepseek-r1-qwen" | "hunyuan" => QWEN2,
        "llama3" | "llama-v3" | "llama-bpe" | "smaug-bpe" | "falcon3" | "pixtral" => LLAMA3,
        "smollm" | "codeshell" | "exaone" | "minerva-7b" => SMOLLM,
        "gpt-2" | "gpt2" | "phi-2" | "jina-es" | "jina-de" | "default" => GPT2,
        _ => return None,
    })
}

impl GgufTokenizer {
    /// Builds the tokenizer from a GGUF header.
    pub fn from_header(header: &Header) -> Result<Self, TokenizerError> {
        let model = header.str("tokenizer.ggml.model").unwrap_or("");
        if model != "gpt2" {
            return Err(TokenizerError::Unsupported(model.to_string()));
        }
        let tokens = header
            .strings("tokenizer.ggml.tokens")
            .ok_or(TokenizerError::Missing("tokenizer.ggml.tokens"))?;
        let merges = header
            .strings("tokenizer.ggml.merges")
            .ok_or(TokenizerError::Missing("tokenizer.ggml.merges"))?;
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let merges: Vec<(String, String)> = merges
            .iter()
            .filter_map(|m| m.split_once(' '))
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .build()
            .map_err(|e| TokenizerError::Build(e.to_string()))?;

        let pre = header.str("tokenizer.ggml.pre").unwrap_or("default");
        let (exprs, exact) = match pre_tokenizer_exprs(pre) {
            Some(e) => (e, true),
            None => {
                tracing::warn!(
                    pre,
                    "unknown pre-tokenizer; token budgets use GPT-2 splitting and may be off by a few percent"
                );
                (GPT2, false)
            }
        };
        let mut steps = Vec::new();
        for expr in exprs {
            let split = Split::new(
                SplitPattern::Regex((*expr).to_string()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|e| TokenizerError::Build(e.to_string()))?;
            steps.push(PreTokenizerWrapper::Split(split));
        }
        steps.push(PreTokenizerWrapper::ByteLevel(ByteLevel::new(
            false, false, false,
        )));
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(Sequence::new(steps)));
        Ok(Self { inner, exact })
    }

    /// The rebuilt tokenizer (e.g. to save as a `tokenizer.json`).
    pub fn hf(&self) -> &Tokenizer {
        &self.inner
    }

    /// Token ids of `text`, special tokens never parsed.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        match self.inner.encode_fast(text, false) {
            Ok(enc) => enc.get_ids().to_vec(),
            // Encoding plain text with a BPE that has every byte in its vocabulary cannot
            // fail; if it ever does, a rough count keeps budgets working.
            Err(_) => vec![0; text.len() / 3 + 1],
        }
    }
}

impl CountTokens for GgufTokenizer {
    fn count(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        self.encode(text).len()
    }
}

/// A deterministic stand-in for tests and for models whose tokenizer cannot be rebuilt:
/// about one token per 3.5 bytes of code, one per word at least.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApproxCounter;

impl CountTokens for ApproxCounter {
    fn count(&self, text: &str) -> usize {
        let words = text.split_whitespace().count();
        (text.len() * 2).div_ceil(7).max(words)
    }
}

/// A Hugging Face tokenizer (`tokenizer.json`), for a model served elsewhere whose GGUF
/// quill does not have.
pub struct HfTokenizer(Tokenizer);

impl HfTokenizer {
    pub fn from_file(path: &std::path::Path) -> Result<Self, TokenizerError> {
        Tokenizer::from_file(path)
            .map(HfTokenizer)
            .map_err(|e| TokenizerError::Build(format!("{}: {e}", path.display())))
    }

    /// The spellings of the tokenizer's added (special) tokens.
    pub fn added_tokens(&self) -> Vec<String> {
        self.0
            .get_added_tokens_decoder()
            .into_values()
            .map(|t| t.content)
            .collect()
    }
}

impl CountTokens for HfTokenizer {
    fn count(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        match self.0.encode_fast(text, false) {
            Ok(enc) => enc.len(),
            Err(_) => ApproxCounter.count(text),
        }
    }
}

/// True when `path` names a Hugging Face `tokenizer.json` rather than a GGUF file.
pub fn is_tokenizer_json(path: &std::path::Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
}

/// The counter for a model file (GGUF) or a `tokenizer.json`.
pub fn counter_for_file(path: &std::path::Path) -> anyhow::Result<Counter> {
    if is_tokenizer_json(path) {
        return Ok(Arc::new(HfTokenizer::from_file(path)?));
    }
    Ok(counter_for(&crate::gguf::read_header(path)?))
}

/// The counter for a model file: its own BPE where it has one, the approximation otherwise.
pub fn counter_for(header: &Header) -> Counter {
    match GgufTokenizer::from_header(header) {
        Ok(t) => Arc::new(t),
        Err(e) => {
            tracing::warn!("token budgets are approximate: {e}");
            Arc::new(ApproxCounter)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_expression_compiles() {
        for pre in ["qwen2", "llama3", "smollm", "gpt2"] {
            for expr in pre_tokenizer_exprs(pre).unwrap() {
                Split::new(
                    SplitPattern::Regex((*expr).to_string()),
                    SplitDelimiterBehavior::Isolated,
                    false,
                )
                .unwrap();
            }
        }
    }

    #[test]
    fn a_tokenizer_json_counts_and_names_its_special_tokens() {
        // A byte-level BPE saved the way Hugging Face ships one, with added tokens.
        let vocab: tokenizers::models::bpe::Vocab = [("d", 0), ("e", 1), ("f", 2), ("de", 3)]
            .into_iter()
            .map(|(t, i)| (t.to_string(), i))
            .collect();
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, vec![("d".into(), "e".into())])
            .build()
            .unwrap();
        let mut t = Tokenizer::new(bpe);
        t.add_special_tokens(vec![tokenizers::AddedToken::from("<|fim_prefix|>", true)])
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        t.save(&path, false).unwrap();
        assert!(is_tokenizer_json(&path));
        let hf = HfTokenizer::from_file(&path).unwrap();
        assert_eq!(hf.count("def"), 2, "de + f");
        assert_eq!(hf.added_tokens(), ["<|fim_prefix|>"]);
        assert_eq!(counter_for_file(&path).unwrap().count("dede"), 2);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{}").unwrap();
        assert!(counter_for_file(&bad).is_err());
    }

    #[test]
    fn approx_counter_is_monotone_and_nonzero() {
        let c = ApproxCounter;
        assert_eq!(c.count(""), 0);
        assert!(c.count("x") >= 1);
        assert!(c.count("fn main() {}") < c.count("fn main() { println!(\"hi\"); }"));
    }
}
