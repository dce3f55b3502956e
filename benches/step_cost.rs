//! What one decode step costs on this machine, by llama.cpp directly: a step of n tokens
//! at a given depth of the KV cache, with logits for every token (what a speculative
//! check needs; llama-bench's `pp` asks for the last one only), with llama.cpp's flash
//! attention kernel on, off or left to llama.cpp.
//!
//! ```sh
//! cargo bench --bench step_cost -- [MODEL.gguf] [DEPTH] [FLASH]
//! ```
//!
//! MODEL defaults to the 1.5B in quill's model cache (`quill pull` fetches it); DEPTH to
//! 1,536 tokens (a prompt while typing); FLASH is `auto` (default), `on` or `off`. Prints the time to read the prompt and the median of 12 steps of 1, 2,
//! 3, 4, 5 and 8 tokens. BENCHMARKS.md, "Flash attention", has what it found.

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` adds `--bench`.
    let mut args = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .peekable();
    let path = match args.next_if(|a| a.ends_with(".gguf")) {
        Some(p) => std::path::PathBuf::from(p),
        None => default_model(),
    };
    if !path.is_file() {
        println!(
            "step_cost: no model at {} (usage: cargo bench --bench step_cost -- \
             MODEL.gguf [DEPTH] [auto|on|off])",
            path.display()
        );
        return Ok(());
    }
    let depth: usize = args.next().map_or(Ok(1536), |s| s.parse())?;
    let flash = args.next().unwrap_or_else(|| "auto".into());
    let policy = match flash.as_str() {
        "auto" => -1,
        "off" => 0,
        "on" => 1,
        other => return Err(format!("flash attention {other:?}: auto, on or off").into()),
    };
    // llama.cpp's own logs go to tracing, which nothing here prints.
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
    let backend = LlamaBackend::init()?;
    let model = LlamaModel::load_from_file(&backend, &path, &LlamaModelParams::default())?;
    let threads = i32::try_from(quill::engine::config::default_threads()).unwrap_or(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(4096))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_flash_attention_policy(policy);
    let mut ctx = model.new_context(&backend, params)?;
    let mut batch = LlamaBatch::new(512, 1);
    // Any tokens do: the cost of a step does not depend on which.
    let token = |i: usize| LlamaToken((i * 7919 % 20_000) as i32 + 100);
    let started = Instant::now();
    let mut pos = 0;
    while pos < depth {
        batch.clear();
        let n = (depth - pos).min(512);
        for j in 0..n {
            batch.add(token(pos + j), (pos + j) as i32, &[0], j + 1 == n)?;
        }
        ctx.decode(&mut batch)?;
        pos += n;
    }
    println!(
        "flash attention {flash}, {threads} threads: a prompt of {depth} tokens in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    for n in [1usize, 2, 3, 4, 5, 8] {
        let mut ms = Vec::new();
        for r in 0..12 {
            batch.clear();
            for j in 0..n {
                batch.add(token(r * 31 + j * 17), (depth + j) as i32, &[0], true)?;
            }
            let t = Instant::now();
            ctx.decode(&mut batch)?;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            ctx.clear_kv_cache_seq(Some(0), Some(depth as u32), None)?;
        }
        ms.sort_by(f64::total_cmp);
        println!(
            "a step of {n} tokens at depth {depth}: {:.1} ms (median of 12)",
            ms[ms.len() / 2]
        );
    }
    Ok(())
}

/// The 1.5B in quill's model cache.
fn default_model() -> std::path::PathBuf {
    quill::models::models_dir().join("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
}
