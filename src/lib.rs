//! quill: a local code-generation language server.
//!
//! See ARCHITECTURE.md for the map of the code in the order data flows through it.

pub mod assist;
pub mod batch;
pub mod bench;
pub mod brackets;
pub mod complete;
pub mod config;
pub mod context;
pub mod engine;
pub mod eval;
pub mod gguf;
pub mod holes;
pub mod lang;
pub mod models;
pub mod next_edit;
pub mod regular_file;
pub mod server;
pub mod syntax;
pub mod text;
pub mod tokenizer;
