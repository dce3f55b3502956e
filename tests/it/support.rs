//! Shared helpers: real models, the built binary, fixtures with a `$0` cursor marker.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use quill::engine::Engine;
use quill::engine::config::EngineConfig;
use quill::models::{Manifest, Presence, model_path, presence};
use quill::tokenizer::Counter;

pub const SMALL: &str = "qwen2.5-coder-0.5b-instruct-q4_k_m";
pub const DEFAULT: &str = "qwen2.5-coder-1.5b-instruct-q4_k_m";
pub const CHAT_ONLY: &str = "smollm2-135m-instruct-q4_1";

/// Real-model tests share two cores: one at a time.
static MODEL_LOCK: Mutex<()> = Mutex::new(());

pub fn real_models_enabled() -> bool {
    std::env::var("QUILL_REAL_MODEL_TESTS").is_ok_and(|v| v == "1")
}

/// The path of a pulled model and the lock that serializes real-model tests, or `None`
/// (with a note) when real-model tests are switched off.
pub fn real_model(name: &str) -> Option<(PathBuf, MutexGuard<'static, ()>)> {
    if !real_models_enabled() {
        eprintln!(
            "skipped: set QUILL_REAL_MODEL_TESTS=1 (scripts/test does) to run real-model tests"
        );
        return None;
    }
    let manifest = Manifest::builtin();
    let entry = manifest.get(name).expect("a manifest model");
    assert_eq!(
        presence(entry),
        Presence::Present,
        "model {name} is missing: run `quill models pull {name}`"
    );
    let guard = MODEL_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    Some((model_path(entry), guard))
}

/// Loads a real model with the settings the CLI uses.
pub fn load(path: PathBuf, name: &str) -> (Engine, Counter) {
    let header = quill::gguf::read_header(&path).expect("a valid model");
    let counter = quill::tokenizer::counter_for(&header);
    let cfg = EngineConfig::new(path, name.to_string());
    let engine = quill::engine::llama::spawn(cfg);
    engine.ready_blocking().expect("the model loads");
    (engine, counter)
}

/// Splits a fixture at its `$0` marker.
pub fn cursor(marked: &str) -> (String, usize) {
    let offset = marked.find("$0").expect("fixture has a $0 cursor");
    (marked.replace("$0", ""), offset)
}

pub fn quill_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_quill"))
}
