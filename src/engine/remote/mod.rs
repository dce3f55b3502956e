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
mod lanes;
pub mod prompt;
pub mod wire;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use self::http::Client;
use self::wire::{Api, Chunk, Finish, Params, Prompt, TokenLogprob, Usage};
use super::{
    Answers, Backend, BatchSource, CancelToken, Confidence, Engine, EngineError, Generate,
    ModelInfo, Output, Piece, Request, StopReason, Timings, Work, ms_since,
};
use crate::gguf::SpecialTexts;

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

    /// The HTTP request for `ask`, its rendered prompt followed by `after` (a ranked
    /// candidate's first token), generating at most `max_tokens`.
    fn call(
        &self,
        ask: Ask<'_>,
        after: &str,
        max_tokens: u32,
        logprobs: Option<u32>,
    ) -> Result<wire::Call, EngineError> {
        let text;
        let prompt = match prompt::chat(ask.prompt) {
            Some(messages) => Prompt::Chat(messages),
            None => {
                text = self.specials.render(ask.prompt)? + after;
                Prompt::Text(&text)
            }
        };
        Ok(wire::request(
            self.api,
            &Params {
                prompt,
                model: self.model.as_deref(),
                max_tokens,
                sampling: ask.generation.sampling,
                ignore_eog: ask.generation.ignore_eog,
                cache_prompt: ask.reuse_cache,
                n_ctx: self.n_ctx,
                logprobs,
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
    /// The generated tokens' log-probabilities, as far as the server reported them
    /// (asked for by ranked candidates).
    confidence: Confidence,
    /// A ranked candidate's probe: each token with the most likely ones at its place.
    probed: Option<Vec<TokenLogprob>>,
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
            confidence: Confidence::default(),
            probed: None,
        }
    }

    /// A ranked candidate's answer, which starts with `first` (put at the end of the
    /// prompt), tokens of these log-probabilities.
    fn starting_with(first: &str, logprobs: impl IntoIterator<Item = f32>) -> Self {
        let mut p = Progress::new();
        p.text = first.to_string();
        p.pieces = 1;
        for lp in logprobs {
            p.confidence.add(lp);
        }
        p
    }

    /// Takes one chunk; `Some` once the answer is settled.
    fn feed(&mut self, chunk: Chunk, g: &mut Generate) -> Option<StopReason> {
        if let Some(u) = chunk.usage {
            self.usage = u;
        }
        for lp in chunk.logprobs {
            // The end-of-generation token counts too: the model chose to end there.
            self.confidence.add(lp.logprob);
            if let Some(p) = self.probed.as_mut() {
                p.push(lp);
            }
        }
        if let Some(f) = chunk.finish {
            self.finish = Some(f);
        }
        if !chunk.text.is_empty() {
            self.first.get_or_insert_with(Instant::now);
            self.pieces += 1;
            self.text.push_str(&chunk.text);
            if let Some(f) = g.stop.as_mut()
                && f(&self.text)
            {
                return Some(StopReason::StopRule);
            }
            if self.pieces >= g.max_tokens && !g.ignore_eog {
                return Some(StopReason::MaxTokens);
            }
        }
        if chunk.end {
            return Some(match self.finish {
                Some(Finish::Length) => StopReason::MaxTokens,
                _ if g.ignore_eog => StopReason::MaxTokens,
                _ => StopReason::EndOfGeneration,
            });
        }
        None
    }

    fn output(self, stop: StopReason) -> Output {
        let confidence = self.confidence;
        let scored = confidence.count() > 0;
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
        // Ranked candidates' answers carry their confidence.
        let candidates = if scored {
            vec![confidence.candidate(self.text.clone(), stop)]
        } else {
            Vec::new()
        };
        Output {
            text: self.text,
            stop,
            timings,
            candidates,
            fits: Vec::new(),
        }
    }
}

fn prefill_only() -> Output {
    Output::prefilled(Timings::default())
}

fn no_scores() -> EngineError {
    EngineError::Unsupported(
        "an inference server does not report how likely it finds given text; \
         ranking by likelihood needs the model in-process"
            .into(),
    )
}

/// What a server is asked to generate: a prompt and how.
#[derive(Clone, Copy)]
struct Ask<'a> {
    prompt: &'a [Piece],
    reuse_cache: bool,
    generation: &'a Generate,
}

impl Backend for RemoteBackend {
    fn generate(&mut self, req: &mut Request, cancel: &CancelToken) -> Result<Output, EngineError> {
        let g = match &mut req.work {
            Work::Score(_) => return Err(no_scores()),
            // Warm-ups are for the in-process cache; a shared server is not asked to
            // evaluate prompts nobody reads.
            Work::Prefill { .. } => return Ok(prefill_only()),
            Work::Generate(g) if g.max_tokens == 0 => return Ok(prefill_only()),
            Work::Generate(g) => g,
        };
        let greedy = g.sampling.temperature <= 0.0;
        let fim = prompt::chat(&req.prompt).is_none();
        match g.answers {
            Answers::Ranked { .. } if greedy && fim => {
                let mut g = std::mem::replace(g, Generate::new(0));
                return self.generate_candidates(req, &mut g, cancel);
            }
            Answers::Rank { .. } => {
                let req = std::mem::replace(req, Request::prefill(Vec::new()));
                return self.generate_rank(req, cancel);
            }
            Answers::Ranked { .. } | Answers::One => {}
        }
        self.ensure_model();
        let ask = Ask {
            prompt: &req.prompt,
            reuse_cache: req.reuse_cache,
            generation: g,
        };
        let call = self.call(ask, "", g.max_tokens, None)?;
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
                    if let Some(stop) = progress.feed(chunk, g) {
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
        self.run_lanes(source, parallel, cancel, BATCH_RETRIES)
    }
}

#[cfg(test)]
mod tests;
