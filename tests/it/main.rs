//! Integration tests: one binary (see Cargo.toml `autotests = false`).
//!
//! Tests that run a real model are behind `QUILL_REAL_MODEL_TESTS=1`, which the README's
//! test command (`scripts/test`) sets after pulling the models; with the switch on, a
//! missing model is a failure, never a skip.

mod cli;
mod fuzz;
mod languages;
mod lsp;
mod lsp_assist;
mod lsp_client;
mod lsp_hostile;
mod lsp_next_edit;
mod lsp_stdio;
mod lsp_suggest;
mod models;
mod real_assist;
mod real_batch;
mod real_model;
mod real_next_edit;
mod real_remote;
mod real_suggest;
mod support;
