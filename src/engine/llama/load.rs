//! Loading a model: llama.cpp's process-wide set-up, the model and its context on the
//! engine thread, and where its layers go (CPU or GPU).

use std::num::NonZeroU32;
use std::sync::OnceLock;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;

use super::LlamaRunner;
use crate::engine::config::{EngineConfig, GPU_BUILD};
use crate::engine::{Engine, EngineError, MAX_CANDIDATES, ModelInfo, Special, ms_since};

/// llama.cpp's process-wide initialisation, done once. Its logs go to `tracing` first, so
/// nothing reaches stdout (which carries the protocol in `quill serve`).
fn backend() -> Result<&'static LlamaBackend, EngineError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| EngineError::LoadFailed(e.clone()))
}

/// Starts the engine thread, which loads the model described by `cfg` and serves requests.
/// Load errors reach callers as [`EngineError::LoadFailed`]; the returned handle is valid
/// either way.
pub fn spawn(cfg: EngineConfig) -> Engine {
    Engine::spawn(move |starter| {
        let backend = match backend() {
            Ok(b) => b,
            Err(e) => return starter.fail(e.to_string()),
        };
        // Our own header check first: it names truncation and corruption precisely.
        if let Err(e) = crate::gguf::read_header(&cfg.model_path) {
            return starter.fail(e.to_string());
        }
        let gpu_layers = effective_gpu_layers(cfg.gpu_layers);
        let free_before = gpu_free_memory();
        let params = LlamaModelParams::default()
            .with_n_gpu_layers(gpu_layers)
            .with_progress_callback(starter.progress_fn());
        let started = Instant::now();
        let model = match LlamaModel::load_from_file(backend, &cfg.model_path, &params) {
            Ok(m) => m,
            Err(e) => {
                return starter.fail(format!(
                    "llama.cpp could not load {}: {e} (see the log for its reason)",
                    cfg.model_path.display()
                ));
            }
        };
        let threads = i32::try_from(cfg.threads.max(1)).unwrap_or(1);
        let n_ctx = cfg.context_size.min(model.n_ctx_train().max(256));
        let n_seq = cfg.parallel.max(MAX_CANDIDATES);
        let ctx_params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(n_ctx))
            .with_n_batch(cfg.batch_size)
            .with_n_ubatch(cfg.batch_size)
            // Enough sequences for the suffix shift's scratch one and ranked candidates.
            .with_n_seq_max(n_seq)
            // One pool of cells for every sequence: batch slots and the scratch sequence
            // share cells instead of copying them.
            .with_kv_unified(true)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let head_dim = u32::try_from(model.n_embd()).unwrap_or(0) / model.n_head().max(1);
        let flash = cfg
            .flash_attention
            .resolve(gpu_layers > 0 && GPU_BUILD, head_dim);
        let ctx_params = ctx_params.with_flash_attention_policy(match flash {
            None => -1,
            Some(true) => 1,
            Some(false) => 0,
        });
        let ctx = match model.new_context(backend, ctx_params) {
            Ok(c) => c,
            Err(e) => {
                return starter.fail(format!(
                    "cannot create a llama.cpp context of {n_ctx} tokens: {e}"
                ));
            }
        };
        let mut runner = LlamaRunner::new(&model, ctx, n_seq as usize);
        let info = ModelInfo {
            name: cfg.model_name.clone(),
            path: cfg.model_path.display().to_string(),
            n_ctx,
            n_ctx_train: model.n_ctx_train(),
            n_params: model.n_params(),
            threads: cfg.threads,
            gpu_layers: gpu_layers.min(model.n_layer() + 1),
            has_fim: runner.special(Special::FimPrefix).is_some()
                && runner.special(Special::FimSuffix).is_some()
                && runner.special(Special::FimMiddle).is_some(),
            has_repo_tokens: runner.special(Special::RepoName).is_some()
                && runner.special(Special::FileSep).is_some(),
            chat_template: model
                .chat_template(None)
                .ok()
                .and_then(|t| t.to_string().ok()),
            server: None,
        };
        if gpu_layers > 0 {
            let used: u64 = free_before
                .iter()
                .zip(gpu_free_memory())
                .map(|(b, a)| b.saturating_sub(a))
                .sum();
            tracing::info!(
                layers_offloaded = info.gpu_layers,
                // llama.cpp counts the output layer too.
                layers = model.n_layer() + 1,
                vram_used_mib = used / (1 << 20),
                "model on the GPU"
            );
        }
        tracing::info!(
            model = %info.name,
            load_ms = ms_since(started) as u64,
            n_ctx,
            threads,
            gpu_layers = info.gpu_layers,
            fim = info.has_fim,
            flash_attention = flash.map_or("llama.cpp's choice", |on| if on { "on" } else { "off" }),
            "model loaded"
        );
        starter.serve(info, &mut runner);
    })
}

/// Tokenizes `text` with llama.cpp's own tokenizer for the model at `path`, loading only
/// its vocabulary. For checking quill's budget tokenizer against the model's.
pub fn tokenize_with_llama(path: &std::path::Path, text: &str) -> Result<Vec<u32>, EngineError> {
    let backend = backend()?;
    let params = LlamaModelParams::default().with_vocab_only(true);
    let model = LlamaModel::load_from_file(backend, path, &params)
        .map_err(|e| EngineError::LoadFailed(e.to_string()))?;
    Ok(model
        .vocab()
        .tokenize(text.as_bytes(), false, false)
        .into_iter()
        .map(|t| t.0 as u32)
        .collect())
}

/// All layers on a GPU build with a usable device; none otherwise, with a warning when a
/// GPU build finds no device at run time.
fn effective_gpu_layers(requested: u32) -> u32 {
    if requested == 0 {
        return 0;
    }
    if !GPU_BUILD {
        tracing::warn!(
            "gpu_layers = {requested} ignored: this build has no GPU back-end (build with --features cuda, vulkan or metal)"
        );
        return 0;
    }
    let gpus = gpu_devices();
    if gpus.is_empty() {
        tracing::warn!("no usable GPU found at run time; running on the CPU");
        return 0;
    }
    for d in &gpus {
        tracing::info!(
            device = %d.name,
            description = %d.description,
            backend = %d.backend,
            free_mib = d.memory_free / (1 << 20),
            total_mib = d.memory_total / (1 << 20),
            "GPU device"
        );
    }
    requested
}

/// Free memory of each GPU device, in bytes.
fn gpu_free_memory() -> Vec<u64> {
    if !GPU_BUILD {
        return Vec::new();
    }
    gpu_devices()
        .into_iter()
        .map(|d| d.memory_free as u64)
        .collect()
}

/// The devices llama.cpp can offload layers to (discrete and integrated GPUs).
fn gpu_devices() -> Vec<llama_cpp_2::LlamaBackendDevice> {
    llama_cpp_2::list_llama_ggml_backend_devices()
        .into_iter()
        .filter(|d| {
            matches!(
                d.device_type,
                llama_cpp_2::LlamaBackendDeviceType::Gpu
                    | llama_cpp_2::LlamaBackendDeviceType::IntegratedGpu
            )
        })
        .collect()
}
