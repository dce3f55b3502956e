//! How the engine loads and runs a model, with the defaults measured for it. The engine's
//! own: nothing here knows the manifest, the CLI or the server (they fill it in).

use std::path::PathBuf;

/// How to load and run the model.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineConfig {
    pub model_path: PathBuf,
    /// A display name (the manifest name, or the file stem).
    pub model_name: String,
    /// Threads for generation and prompt evaluation; default: physical cores.
    pub threads: usize,
    /// Layers offloaded to the GPU; default: all when a GPU back-end is compiled in.
    pub gpu_layers: u32,
    /// Context window in tokens (prompt + generation).
    pub context_size: u32,
    /// Tokens decoded per llama.cpp batch while evaluating a prompt.
    pub batch_size: u32,
    /// Sequences decoded together (batch generation); 1 for the interactive engine. With
    /// a server: requests in flight at once.
    pub parallel: u32,
    /// Run the model on this inference server instead of in-process. `model_path` then
    /// names the GGUF whose header gives the tokenizer and special tokens (empty: none,
    /// only conversations work).
    pub remote: Option<super::remote::RemoteConfig>,
    /// llama.cpp's flash attention kernel.
    pub flash_attention: FlashAttention,
}

/// Whether llama.cpp runs attention through its flash attention kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlashAttention {
    /// Off where it was measured slower: on a CPU, for models whose attention heads are
    /// narrower than 128 (the 0.5B's 64-wide heads: a generated token at 1,536 tokens of
    /// context took 40 instead of 56 ms without it, a 4-token step 63 instead of 127;
    /// BENCHMARKS.md, "Flash attention"). Elsewhere llama.cpp's own choice (on where the
    /// back-end supports it).
    #[default]
    Auto,
    On,
    Off,
}

impl FlashAttention {
    pub const NAMES: [&'static str; 3] = ["auto", "on", "off"];

    pub fn from_name(s: &str) -> Option<FlashAttention> {
        match s {
            "auto" => Some(FlashAttention::Auto),
            "on" => Some(FlashAttention::On),
            "off" => Some(FlashAttention::Off),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FlashAttention::Auto => "auto",
            FlashAttention::On => "on",
            FlashAttention::Off => "off",
        }
    }

    /// Whether to run with it, for a model with `head_dim`-wide attention heads whose
    /// layers run on a GPU (`on_gpu`) or the CPU; `None`: llama.cpp decides.
    pub fn resolve(self, on_gpu: bool, head_dim: u32) -> Option<bool> {
        match self {
            FlashAttention::On => Some(true),
            FlashAttention::Off => Some(false),
            FlashAttention::Auto if !on_gpu && head_dim < 128 => Some(false),
            FlashAttention::Auto => None,
        }
    }
}

impl EngineConfig {
    pub fn new(model_path: PathBuf, model_name: String) -> Self {
        EngineConfig {
            model_path,
            model_name,
            threads: default_threads(),
            gpu_layers: default_gpu_layers(),
            context_size: DEFAULT_CONTEXT_SIZE,
            batch_size: 512,
            parallel: 1,
            remote: None,
            flash_attention: FlashAttention::Auto,
        }
    }
}

pub const DEFAULT_CONTEXT_SIZE: u32 = 4096;

/// Physical cores: on SMT machines, extra logical threads slow llama.cpp's matrix kernels
/// down rather than up (BENCHMARKS.md, "Defaults decided by a measurement").
pub fn default_threads() -> usize {
    num_cpus::get_physical().max(1)
}

/// True when this build has a GPU back-end compiled in.
pub const GPU_BUILD: bool = cfg!(any(feature = "cuda", feature = "vulkan", feature = "metal"));

/// Speculative decoding (most draft tokens a step) is off unless asked for. On the 2-core
/// CPU quill is developed on, a decode of 4 tokens costs 1.5 single ones and of 8 tokens
/// 2.6: drafts of 3 sped up blocks by 14% in `quill eval` but made ghost text slower in
/// `quill bench --lsp` (BENCHMARKS.md, "drafts of 3"). On a GPU, where a decode of
/// several tokens costs about one, drafts should pay, but that has not been measured:
/// until it is, GPU builds default to none as well (`draftTokens` turns them on).
pub const DEFAULT_DRAFT_TOKENS: usize = 0;

pub fn default_gpu_layers() -> u32 {
    if GPU_BUILD { u32::MAX } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::FlashAttention;

    #[test]
    fn flash_attention_is_off_on_a_cpu_for_narrow_heads_only() {
        let auto = FlashAttention::Auto;
        assert_eq!(auto.resolve(false, 64), Some(false));
        assert_eq!(auto.resolve(false, 128), None);
        assert_eq!(auto.resolve(true, 64), None);
        assert_eq!(FlashAttention::On.resolve(false, 64), Some(true));
        assert_eq!(FlashAttention::Off.resolve(true, 128), Some(false));
        for n in FlashAttention::NAMES {
            assert_eq!(
                FlashAttention::from_name(n).map(FlashAttention::as_str),
                Some(n)
            );
        }
    }
}
