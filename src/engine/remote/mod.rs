//! A model served by another program over HTTP (llama-server, vLLM, Ollama, any
//! OpenAI-compatible API), behind the same [`Backend`] interface as the in-process one:
//! the queue, superseding, cancellation, stop rules and batch work the same way.
//!
//! What stays quill's: the prompt (built as for the in-process model, its special tokens
//! spelled as the model's GGUF header spells them, see [`prompt`]), token budgets (the
//! tokenizer from the same header), stop rules (applied to the streamed text; the stream
//! is closed the moment the answer is settled) and post-processing. What the server
//! decides: its slots, its prompt cache, its batching.

pub mod http;
pub mod prompt;
pub mod wire;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use self::http::{Client, Msg, Stream};
use self::prompt::SpecialTexts;
use self::wire::{Api, Chunk, Finish, Params, Prompt, Usage};
use super::{
    Backend, BatchSource, CancelToken, Engine, EngineError, ModelInfo, Output, Request, StopReason,
    Timings, ms_since,
};

/// How often the engine thread looks at cancellation and deadlines while it waits for the
/// server.
const POLL: Duration = Duration::from_millis(10);
/// Retries of a batch task after a connection error, HTTP 429 or 5xx (interactive requests
/// are not retried: the next keystroke asks again).
const BATCH_RETRIES: u32 = 5;

/// Where the server is and how to talk to it.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    /// The base URL, e.g. `http://127.0.0.1:8080` (paths such as `/v1/completions` are
    /// appended).
    pub url: String,
    pub api: Api,
    /// The model name the server knows (required by vLLM and Ollama; the first one the
    /// server lists when not given).
    pub model: Option<String>,
    /// The environment variable that holds the API key (the key itself is never stored in
    /// settings or logged).
    pub api_key_env: Option<String>,
    /// Longest wait for the server's answer to start, and between two streamed tokens.
    pub timeout: Duration,
}

impl RemoteConfig {
    pub fn new(url: &str, api: Api) -> Self {
        RemoteConfig {
            url: url.trim_end_matches('/').to_string(),
            api,
            model: None,
            api_key_env: None,
            timeout: Duration::from_secs(60),
        }
    }
}

/// Starts an engine that sends requests to the server `cfg` names. `model_file` is the
/// model's GGUF (a local copy of the served model, or any GGUF with the same vocabulary)
/// or its Hugging Face `tokenizer.json`: it gives the special tokens fill-in-the-middle
/// prompts need. Without one, only
/// conversations (explanations, reviews, refactors) work.
pub fn spawn(cfg: RemoteConfig, model_file: Option<PathBuf>, context_size: u32) -> Engine {
    Engine::spawn(move |starter| {
        let specials = match &model_file {
            Some(path) => match SpecialTexts::from_file(path) {
                Ok(s) => s,
                Err(e) => return starter.fail(e.to_string()),
            },
            None => SpecialTexts::default(),
        };
        let key = match &cfg.api_key_env {
            Some(var) => match std::env::var(var) {
                Ok(k) if !k.trim().is_empty() => Some(k.trim().to_string()),
                _ => {
                    return starter.fail(format!(
                        "the environment variable {var} that should hold the server's API key is not set"
                    ));
                }
            },
            None => None,
        };
        let client = Arc::new(Client::new(&cfg.url, key, cfg.timeout));
        let mut backend = RemoteBackend {
            client,
            api: cfg.api,
            model: cfg.model.clone(),
            specials,
            n_ctx: context_size,
            next_id: 0,
        };
        match backend.probe() {
            Ok(()) => {}
            Err(EngineError::Unreachable(e)) => {
                // It may come up later: requests fail until it does, and then work.
                tracing::warn!("{e}; requests will fail until the server answers");
            }
            Err(e) => return starter.fail(e.to_string()),
        }
        let info = ModelInfo {
            name: backend
                .model
                .clone()
                .unwrap_or_else(|| format!("{} at {}", cfg.api.name(), cfg.url)),
            path: model_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            n_ctx: backend.n_ctx,
            n_ctx_train: backend.n_ctx,
            n_params: 0,
            threads: 0,
            gpu_layers: 0,
            has_fim: backend.specials.has_fim(),
            has_repo_tokens: backend.specials.has_repo_tokens(),
            // The server lays conversations out with its model's template.
            chat_template: Some("server".into()),
            server: Some(cfg.url.clone()),
        };
        tracing::info!(
            url = %cfg.url,
            api = cfg.api.name(),
            model = %info.name,
            n_ctx = info.n_ctx,
            fim = info.has_fim,
            "using an inference server"
        );
        starter.serve(info, &mut backend);
    })
}

struct RemoteBackend {
    client: Arc<Client>,
    api: Api,
    /// The server's name for the model, once known.
    model: Option<String>,
    specials: SpecialTexts,
    n_ctx: u32,
    next_id: u64,
}

impl RemoteBackend {
    /// Asks the server what it serves: checks the model name where it lists models, takes
    /// the first one where none was given, and llama-server's context size.
    fn probe(&mut self) -> Result<(), EngineError> {
        if self.api == Api::LlamaServer {
            let props = self.client.get_json("/props")?;
            let n = &props["default_generation_settings"]["n_ctx"];
            if let Some(n) = n.as_u64().or(props["n_ctx"].as_u64()) {
                // Its slots share the context; the prompt must fit in one slot's.
                self.n_ctx = u32::try_from(n).unwrap_or(self.n_ctx).min(self.n_ctx);
            }
            return Ok(());
        }
        let names = match self.client.get_json(wire::models_path(self.api)) {
            Ok(v) => wire::model_names(self.api, &v),
            // Some servers do not list models; the first request tells.
            Err(EngineError::Refused(e)) => {
                tracing::warn!("{e}");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        match &self.model {
            Some(m) if !names.is_empty() && !names.iter().any(|n| n == m) => {
                Err(EngineError::Refused(format!(
                    "{} has no model named {m}; it serves: {}",
                    self.client.base,
                    names.join(", ")
                )))
            }
            Some(_) => Ok(()),
            None => match names.first() {
                Some(first) => {
                    tracing::info!(model = %first, "no model named: using the server's first");
                    self.model = Some(first.clone());
                    Ok(())
                }
                None if self.api == Api::Ollama => Err(EngineError::Refused(format!(
                    "{} serves no model; `ollama pull` one and name it",
                    self.client.base
                ))),
                None => Ok(()),
            },
        }
    }

    /// Learns the model's name if the server was down at start (vLLM and Ollama need it).
    fn ensure_model(&mut self) {
        if self.model.is_none() && self.api != Api::LlamaServer {
            let _ = self.probe();
        }
    }

    /// The HTTP request for `req`.
    fn call(&self, req: &Request) -> Result<wire::Call, EngineError> {
        if req.first_rank.is_some_and(|r| r > 0) {
            return Err(EngineError::Unsupported(
                "ranked candidates need the in-process engine (servers give no control over the first token)"
                    .into(),
            ));
        }
        let text;
        let prompt = match prompt::chat(&req.prompt) {
            Some(messages) => Prompt::Chat(messages),
            None => {
                text = self.specials.render(&req.prompt)?;
                Prompt::Text(&text)
            }
        };
        Ok(wire::request(
            self.api,
            &Params {
                prompt,
                model: self.model.as_deref(),
                max_tokens: req.max_tokens,
                sampling: req.sampling,
                ignore_eog: req.ignore_eog,
                cache_prompt: req.reuse_cache,
                n_ctx: self.n_ctx,
            },
        ))
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// One answer being streamed.
struct Progress {
    text: String,
    /// Streamed pieces with text: one token each from the servers quill knows.
    pieces: u32,
    finish: Option<Finish>,
    usage: Usage,
    started: Instant,
    first: Option<Instant>,
}

impl Progress {
    fn new() -> Self {
        Progress {
            text: String::new(),
            pieces: 0,
            finish: None,
            usage: Usage::default(),
            started: Instant::now(),
            first: None,
        }
    }

    /// Takes one chunk; `Some` once the answer is settled.
    fn feed(&mut self, chunk: Chunk, req: &mut Request) -> Option<StopReason> {
        if let Some(u) = chunk.usage {
            self.usage = u;
        }
        if let Some(f) = chunk.finish {
            self.finish = Some(f);
        }
        if !chunk.text.is_empty() {
            self.first.get_or_insert_with(Instant::now);
            self.pieces += 1;
            self.text.push_str(&chunk.text);
            if let Some(f) = req.stop.as_mut()
                && f(&self.text)
            {
                return Some(StopReason::StopRule);
            }
            if self.pieces >= req.max_tokens && !req.ignore_eog {
                return Some(StopReason::MaxTokens);
            }
        }
        if chunk.end {
            return Some(match self.finish {
                Some(Finish::Length) => StopReason::MaxTokens,
                _ if req.ignore_eog => StopReason::MaxTokens,
                _ => StopReason::EndOfGeneration,
            });
        }
        None
    }

    fn output(self, stop: StopReason) -> Output {
        let u = self.usage;
        let first = self.first.unwrap_or_else(Instant::now);
        let prompt_tokens = u.prompt_tokens.unwrap_or(0);
        let reused = u.cached_tokens.unwrap_or(0).min(prompt_tokens);
        let timings = Timings {
            prompt_tokens,
            reused_tokens: reused,
            evaluated_tokens: prompt_tokens - reused,
            generated_tokens: u.generated_tokens.unwrap_or(self.pieces),
            prompt_ms: u
                .prompt_ms
                .unwrap_or_else(|| (first - self.started).as_secs_f64() * 1000.0),
            generate_ms: u.generate_ms.unwrap_or_else(|| ms_since(first)),
            ..Timings::default()
        };
        Output {
            text: self.text,
            stop,
            timings,
            candidates: Vec::new(),
        }
    }
}

fn prefill_only() -> Output {
    Output {
        text: String::new(),
        stop: StopReason::PrefillOnly,
        timings: Timings::default(),
        candidates: Vec::new(),
    }
}

impl Backend for RemoteBackend {
    fn generate(&mut self, req: &mut Request, cancel: &CancelToken) -> Result<Output, EngineError> {
        if req.max_tokens == 0 {
            // Warm-ups are for the in-process cache; a shared server is not asked to
            // evaluate prompts nobody reads.
            return Ok(prefill_only());
        }
        self.ensure_model();
        let call = self.call(req)?;
        let (tx, rx) = mpsc::channel();
        let id = self.id();
        let _stream = http::start(&self.client, self.api, call, id, 0, tx);
        let mut progress = Progress::new();
        loop {
            cancel.check()?;
            if req.deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(progress.output(StopReason::Deadline));
            }
            match rx.recv_timeout(POLL) {
                Ok((_, Ok(chunk))) => {
                    if let Some(stop) = progress.feed(chunk, req) {
                        return Ok(progress.output(stop));
                    }
                }
                Ok((_, Err(e))) => return Err(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(EngineError::Unreachable(format!(
                        "the answer from {} ended without a result",
                        self.client.base
                    )));
                }
            }
        }
    }

    /// Keeps up to `parallel` requests in flight; the server's own batching does the rest.
    fn run_batch(
        &mut self,
        source: &mut dyn BatchSource,
        parallel: usize,
        cancel: &CancelToken,
    ) -> Result<(), EngineError> {
        struct Lane {
            tag: u64,
            req: Request,
            progress: Progress,
            _stream: Stream,
        }
        let (tx, rx): (_, Receiver<Msg>) = mpsc::channel();
        let mut lanes: HashMap<u64, Lane> = HashMap::new();
        self.ensure_model();
        loop {
            cancel.check()?;
            while lanes.len() < parallel.max(1) {
                let Some((tag, req)) = source.next() else {
                    break;
                };
                if req.max_tokens == 0 {
                    source.done(tag, Ok(prefill_only()));
                    continue;
                }
                match self.call(&req) {
                    Ok(call) => {
                        let id = self.id();
                        let stream = http::start(
                            &self.client,
                            self.api,
                            call,
                            id,
                            BATCH_RETRIES,
                            tx.clone(),
                        );
                        lanes.insert(
                            id,
                            Lane {
                                tag,
                                req,
                                progress: Progress::new(),
                                _stream: stream,
                            },
                        );
                    }
                    Err(e) => source.done(tag, Err(e)),
                }
            }
            if lanes.is_empty() {
                if source.finished() {
                    return Ok(());
                }
                return Err(EngineError::Backend("batch source stalled".into()));
            }
            let mut settled: Vec<(u64, Result<StopReason, EngineError>)> = Vec::new();
            match rx.recv_timeout(POLL) {
                Ok((id, msg)) => {
                    if let Some(lane) = lanes.get_mut(&id) {
                        match msg {
                            Ok(chunk) => {
                                if let Some(stop) = lane.progress.feed(chunk, &mut lane.req) {
                                    settled.push((id, Ok(stop)));
                                }
                            }
                            Err(e) => settled.push((id, Err(e))),
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => unreachable!("the sender is held here"),
            }
            let now = Instant::now();
            for (id, lane) in &lanes {
                if lane.req.deadline.is_some_and(|d| now >= d)
                    && !settled.iter().any(|s| s.0 == *id)
                {
                    settled.push((*id, Ok(StopReason::Deadline)));
                }
            }
            for (id, result) in settled {
                if let Some(lane) = lanes.remove(&id) {
                    let result = result.map(|stop| lane.progress.output(stop));
                    source.done(lane.tag, result);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
