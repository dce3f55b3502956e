//! A deterministic stand-in for the model, for tests of everything around the engine:
//! the queue, cancellation, superseding, prompt assembly and post-processing.
//!
//! It "tokenizes" a prompt into characters (special tokens become one marker each), keeps a
//! simulated KV cache so reuse counts behave like the real engine's, and answers with text
//! from a caller-supplied function of the rendered prompt, streamed a few characters at a
//! time through the request's stop function.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use super::render::render;
use super::render::{chatml, marker};
use super::{
    Answers, Backend, CancelToken, Engine, EngineError, ModelInfo, Output, Piece, Request,
    StopReason, Timings, Work, common_prefix,
};

/// Maps the rendered prompt to the text the fake model "generates".
pub type Responder = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// How the fake model reads a scored text ([`super::Score`]): given the text and the tail,
/// the log-probability of each (one "token" each).
pub type Reader = Arc<dyn Fn(&str, &str) -> (f32, f32) + Send + Sync>;

/// A fake model.
pub struct FakeBackend {
    respond: Responder,
    /// How scored texts read; by default every character costs 0.1.
    pub read: Reader,
    /// Pause after each generated token, so tests can cancel mid-generation.
    pub token_delay: Duration,
    /// Characters per generated "token".
    pub chars_per_token: usize,
    cache: Vec<String>,
    /// Every prompt seen, rendered, for assertions.
    pub log: Arc<Mutex<Vec<String>>>,
    /// Tokens generated over the backend's life, for assertions on cancellation.
    pub generated: Arc<AtomicUsize>,
}

impl FakeBackend {
    pub fn new(respond: impl Fn(&str) -> String + Send + Sync + 'static) -> Self {
        FakeBackend {
            respond: Arc::new(respond),
            read: Arc::new(|text, tail| {
                (
                    -0.1 * text.chars().count() as f32,
                    -0.1 * tail.chars().count() as f32,
                )
            }),
            token_delay: Duration::ZERO,
            chars_per_token: 3,
            cache: Vec::new(),
            log: Arc::new(Mutex::new(Vec::new())),
            generated: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn info() -> ModelInfo {
        ModelInfo {
            name: "fake".into(),
            path: "<fake>".into(),
            n_ctx: 1 << 20,
            n_ctx_train: 1 << 20,
            n_params: 0,
            threads: 1,
            gpu_layers: 0,
            has_fim: true,
            has_repo_tokens: true,
            chat_template: Some("chatml".into()),
            server: None,
        }
    }

    /// Reads a text ending with `best` as the one the code after it follows best, and
    /// every other worse; the texts and tails read, in order, for assertions.
    pub fn read_best(&mut self, best: &'static str) -> Arc<Mutex<Vec<(String, String)>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        self.read = Arc::new(move |text: &str, tail: &str| {
            log.lock()
                .unwrap()
                .push((text.to_string(), tail.to_string()));
            (-0.5, if text.ends_with(best) { -0.1 } else { -3.0 })
        });
        seen
    }

    /// Starts an engine thread running this backend.
    pub fn spawn(mut self) -> Engine {
        Engine::spawn(move |starter| starter.serve(FakeBackend::info(), &mut self))
    }
}

fn fake_tokens(prompt: &[Piece]) -> Vec<String> {
    let mut out = Vec::new();
    for piece in prompt {
        match piece {
            Piece::Text(t) | Piece::Markup(t) => out.extend(t.chars().map(String::from)),
            Piece::Special(s) => out.push(marker(*s).to_string()),
            Piece::Chat(m) => out.extend(chatml(m).chars().map(String::from)),
        }
    }
    out
}

impl Backend for FakeBackend {
    fn generate(&mut self, req: &mut Request, cancel: &CancelToken) -> Result<Output, EngineError> {
        let start = Instant::now();
        let rendered = render(&req.prompt);
        self.log.lock().unwrap().push(rendered.clone());
        let tokens = fake_tokens(&req.prompt);
        if !req.reuse_cache {
            self.cache.clear();
        }
        let mut keep = common_prefix(&self.cache, &tokens);
        if keep == tokens.len() && keep > 0 {
            keep -= 1;
        }
        self.cache.truncate(keep);
        self.cache.extend_from_slice(&tokens[keep..]);
        let mut timings = Timings {
            prompt_tokens: tokens.len() as u32,
            reused_tokens: keep as u32,
            evaluated_tokens: (tokens.len() - keep) as u32,
            prompt_ms: start.elapsed().as_secs_f64() * 1000.0,
            ..Timings::default()
        };
        let g = match &mut req.work {
            Work::Score(score) => {
                let fits = score
                    .texts
                    .iter()
                    .map(|t| {
                        let (text, tail) = (self.read)(t, &score.tail);
                        super::Fit {
                            text: vec![text],
                            tail: vec![tail],
                        }
                    })
                    .collect();
                let mut out = Output::prefilled(timings);
                out.fits = fits;
                return Ok(out);
            }
            Work::Prefill { .. } => return Ok(Output::prefilled(timings)),
            Work::Generate(g) if g.max_tokens == 0 => return Ok(Output::prefilled(timings)),
            Work::Generate(g) => g,
        };
        let gen_start = Instant::now();
        let answer: Vec<char> = (self.respond)(&rendered).chars().collect();
        let mut text = String::new();
        let mut stop = StopReason::EndOfGeneration;
        for chunk in answer.chunks(self.chars_per_token.max(1)) {
            cancel.check()?;
            if timings.generated_tokens >= g.max_tokens {
                stop = StopReason::MaxTokens;
                break;
            }
            if req.deadline.is_some_and(|d| Instant::now() >= d) {
                stop = StopReason::Deadline;
                break;
            }
            if !self.token_delay.is_zero() {
                std::thread::sleep(self.token_delay);
            }
            let piece: String = chunk.iter().collect();
            text.push_str(&piece);
            self.cache.push(piece);
            timings.generated_tokens += 1;
            self.generated.fetch_add(1, Ordering::SeqCst);
            if let Some(f) = g.stop.as_mut()
                && f(&text)
            {
                stop = StopReason::StopRule;
                break;
            }
        }
        cancel.check()?;
        timings.generate_ms = gen_start.elapsed().as_secs_f64() * 1000.0;
        // Ranked candidates: the answer, and for the later ranks its first line with ` or N`
        // after it (an expression, which post-processing keeps where it would cut a
        // comment; a blank line becomes the comment `# N`), each less sure than the one
        // before.
        let variant = |rank: u32| super::Candidate {
            text: if rank == 0 {
                text.clone()
            } else {
                match text.lines().next().unwrap_or("") {
                    blank if blank.trim().is_empty() => format!("{blank}# {rank}"),
                    first => format!("{first} or {rank}"),
                }
            },
            stop,
            mean_logprob: -0.1 * (rank as f32 + 1.0),
            min_logprob: -0.2 * (rank as f32 + 1.0),
            fit: None,
        };
        let candidates = match g.answers {
            Answers::Rank { rank, .. } => vec![variant(rank)],
            Answers::Ranked { n, .. } => (0..n).map(variant).collect(),
            Answers::One => Vec::new(),
        };
        Ok(Output {
            text,
            stop,
            timings,
            candidates,
            fits: Vec::new(),
        })
    }
}
