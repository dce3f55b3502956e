//! Logs go to stderr (or a file), never stdout: stdout carries completions, JSON and the
//! LSP protocol. llama.cpp's own logs arrive through `tracing` too (see `engine/llama.rs`).

use std::path::Path;

use tracing_subscriber::EnvFilter;

/// Sets up `tracing`. `QUILL_LOG` (an `EnvFilter` directive) overrides the verbosity.
pub fn init(verbose: u8, file: Option<&Path>, default: &str) {
    let level = match verbose {
        0 => default.to_string(),
        1 => "info".to_string(),
        2 => "debug,llama-cpp-2=info".to_string(),
        _ => "trace".to_string(),
    };
    let filter = EnvFilter::try_from_env("QUILL_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(verbose >= 2);
    let file = file.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .map_err(|e| {
                eprintln!(
                    "cannot open log file {}: {e}; logging to stderr",
                    p.display()
                )
            })
            .ok()
    });
    match file {
        Some(f) => builder
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(f))
            .init(),
        // Colours only for a terminal: a piped or redirected log stays plain text.
        None => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init(),
    }
}
