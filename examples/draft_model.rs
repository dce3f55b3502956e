//! Speculative decoding with a draft model, by llama.cpp directly: a small model of the
//! same vocabulary (the 0.5B for the 1.5B) proposes `γ` tokens, the model checks them in
//! one step of `γ + 1` tokens and keeps the longest run it agrees with plus its own next
//! token. Greedy output is the model's own (up to the order in which a batched step sums).
//!
//! ```sh
//! cargo run --release --example draft_model -- MODEL.gguf DRAFT.gguf [GAMMAS] [FILES...]
//! ```
//!
//! GAMMAS is a comma-separated list of draft lengths (default `1,2,3,4`). Each FILE (default:
//! the replay's `benches/data/*.py` and a few of quill's own sources) gives fill-in-the-middle
//! prompts cut at 30%, 50% and 70% of its lines (up to 4,000 bytes before the cut, 1,500
//! after), answered with up to 48 tokens. Prints, per draft length, the generated tokens
//! per second against plain greedy decoding on the same prompts, the share of draft tokens
//! kept and how many answers were token-identical; and what the draft model costs to read
//! each prompt (in an editor it must read, and keep up to date, every prompt the model
//! reads). BENCHMARKS.md, "A draft model", has what it found.

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::token::LlamaToken;

type Error = Box<dyn std::error::Error>;

/// Tokens generated per answer, at most.
const MAX_NEW: usize = 48;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target_path, draft_path, rest @ ..] = args.as_slice() else {
        return Err("usage: draft_model MODEL.gguf DRAFT.gguf [GAMMAS] [FILES...]".into());
    };
    let (gammas, files) = match rest.first() {
        Some(g) if g.chars().all(|c| c.is_ascii_digit() || c == ',') => (
            g.split(',')
                .map(str::parse)
                .collect::<Result<Vec<usize>, _>>()?,
            &rest[1..],
        ),
        _ => (vec![1, 2, 3, 4], rest),
    };
    let files: Vec<String> = if files.is_empty() {
        [
            "benches/data/inventory.py",
            "benches/data/report.py",
            "src/complete/cache.rs",
            "src/engine/draft.rs",
            "src/context/render.rs",
        ]
        .map(String::from)
        .to_vec()
    } else {
        files.to_vec()
    };

    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
    let backend = LlamaBackend::init()?;
    let params = LlamaModelParams::default();
    let target = LlamaModel::load_from_file(&backend, target_path, &params)?;
    let draft = LlamaModel::load_from_file(&backend, draft_path, &params)?;
    let mut tctx = context(&target, &backend)?;
    let mut dctx = context(&draft, &backend)?;
    let vocab = target.vocab();

    let mut prompts = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        for share in [30, 50, 70] {
            let cut: usize = lines[..lines.len() * share / 100]
                .iter()
                .map(|l| l.len())
                .sum();
            let prefix = tail(&text[..cut], 4000);
            let suffix = head(&text[cut..], 1500);
            let prompt = format!("<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>");
            prompts.push(vocab.tokenize(prompt.as_bytes(), false, true));
        }
    }

    // Each prompt is read once by both models; every run starts from it.
    let mut plain = Stats::default();
    let mut runs = vec![Stats::default(); gammas.len()];
    let (mut draft_read_secs, mut prompt_tokens) = (0.0, 0usize);
    for prompt in &prompts {
        let first = read(&mut tctx, prompt)?;
        let t = Instant::now();
        read(&mut dctx, prompt)?;
        draft_read_secs += t.elapsed().as_secs_f64();
        prompt_tokens += prompt.len();
        let t = Instant::now();
        let reference = speculate(&mut tctx, &mut dctx, prompt, first, 0, &target)?;
        plain.add(&reference, t.elapsed().as_secs_f64(), true);
        for (&gamma, stats) in gammas.iter().zip(&mut runs) {
            let t = Instant::now();
            let run = speculate(&mut tctx, &mut dctx, prompt, first, gamma, &target)?;
            stats.add(
                &run,
                t.elapsed().as_secs_f64(),
                run.tokens == reference.tokens,
            );
        }
    }
    let plain_rate = plain.tokens as f64 / plain.secs;
    let plain_step = plain.secs * 1000.0 / plain.steps as f64;
    println!(
        "{} prompts, {:.0} tokens on average; plain greedy: {} tokens, {plain_rate:.1} tok/s \
         ({plain_step:.1} ms a token); \
         the draft model reads a prompt in {:.0} ms on average",
        prompts.len(),
        prompt_tokens as f64 / prompts.len() as f64,
        plain.tokens,
        draft_read_secs * 1000.0 / prompts.len() as f64
    );
    for (gamma, s) in gammas.iter().zip(&runs) {
        let rate = s.tokens as f64 / s.secs;
        println!(
            "draft of {gamma}: {} tokens, {rate:.1} tok/s ({:.2}x plain), {:.0}% of {} draft tokens kept, \
             {} of {} answers identical; a step of the model {:.1} ms, drafting {:.1} ms a step",
            s.tokens,
            rate / plain_rate,
            100.0 * s.kept as f64 / s.drafted.max(1) as f64,
            s.drafted,
            s.identical,
            prompts.len(),
            (s.secs - s.draft_secs) * 1000.0 / s.steps as f64,
            s.draft_secs * 1000.0 / s.steps as f64
        );
    }
    Ok(())
}

fn context<'m>(model: &'m LlamaModel, backend: &LlamaBackend) -> Result<LlamaContext<'m>, Error> {
    let threads = i32::try_from(quill::engine::config::default_threads()).unwrap_or(1);
    // quill's `flashAttention: auto` on a CPU: off for heads narrower than 128.
    let head_dim = model.n_embd() / i32::try_from(model.n_head())?.max(1);
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(4096))
        .with_n_batch(512)
        .with_n_ubatch(512)
        .with_n_threads(threads)
        .with_n_threads_batch(threads)
        .with_flash_attention_policy(if head_dim < 128 { 0 } else { -1 });
    Ok(model.new_context(backend, params)?)
}

/// Reads `prompt` into an empty cache; the model's first token.
fn read(ctx: &mut LlamaContext, prompt: &[LlamaToken]) -> Result<LlamaToken, Error> {
    ctx.clear_kv_cache();
    let mut batch = LlamaBatch::new(512, 1);
    for (start, chunk) in (0..).step_by(512).zip(prompt.chunks(512)) {
        batch.clear();
        for (j, &token) in chunk.iter().enumerate() {
            batch.add(
                token,
                (start + j) as i32,
                &[0],
                start + j + 1 == prompt.len(),
            )?;
        }
        ctx.decode(&mut batch)?;
    }
    Ok(argmax(ctx.get_logits_ith(batch.n_tokens() - 1)))
}

#[derive(Default, Clone)]
struct Stats {
    tokens: usize,
    secs: f64,
    draft_secs: f64,
    /// Steps of the model.
    steps: usize,
    drafted: usize,
    kept: usize,
    identical: usize,
}

impl Stats {
    fn add(&mut self, run: &Run, secs: f64, identical: bool) {
        self.tokens += run.tokens.len();
        self.secs += secs;
        self.draft_secs += run.draft_secs;
        self.steps += run.steps;
        self.drafted += run.drafted;
        self.kept += run.kept;
        self.identical += usize::from(identical);
    }
}

struct Run {
    tokens: Vec<LlamaToken>,
    /// Seconds spent drafting (the draft model's steps).
    draft_secs: f64,
    /// Steps of the model (each checks a draft).
    steps: usize,
    drafted: usize,
    kept: usize,
}

/// Greedy decoding with `gamma` tokens drafted by `dctx` a step (0: plain greedy decoding,
/// one token a step). Both caches hold `prompt` (and may hold more, which is dropped).
fn speculate(
    tctx: &mut LlamaContext,
    dctx: &mut LlamaContext,
    prompt: &[LlamaToken],
    first: LlamaToken,
    gamma: usize,
    model: &LlamaModel,
) -> Result<Run, Error> {
    tctx.clear_kv_cache_seq(Some(0), Some(prompt.len() as u32), None)?;
    dctx.clear_kv_cache_seq(Some(0), Some(prompt.len() as u32), None)?;
    let mut seq = prompt.to_vec();
    seq.push(first);
    // Tokens of `seq` in each cache: the target lacks only the last one.
    let mut tlen = prompt.len();
    let mut dlen = prompt.len();
    let (mut drafted, mut kept, mut draft_secs, mut steps) = (0, 0, 0.0, 0);
    let mut batch = LlamaBatch::new(512, 1);
    let done = |seq: &[LlamaToken]| {
        seq.len() - prompt.len() >= MAX_NEW || model.vocab().is_eog(*seq.last().unwrap())
    };
    while !done(&seq) {
        let room = MAX_NEW - (seq.len() - prompt.len());
        let gamma = gamma.min(room.saturating_sub(1));
        // Draft: catch the draft cache up with `seq`, then propose `gamma` tokens.
        let mut drafts = Vec::with_capacity(gamma);
        let t = Instant::now();
        if gamma > 0 {
            batch.clear();
            for (i, &token) in seq.iter().enumerate().skip(dlen) {
                batch.add(token, i as i32, &[0], i + 1 == seq.len())?;
            }
            dctx.decode(&mut batch)?;
            drafts.push(argmax(dctx.get_logits_ith(batch.n_tokens() - 1)));
            while drafts.len() < gamma {
                batch.clear();
                let pos = seq.len() + drafts.len() - 1;
                batch.add(*drafts.last().unwrap(), pos as i32, &[0], true)?;
                dctx.decode(&mut batch)?;
                drafts.push(argmax(dctx.get_logits_ith(0)));
            }
        }
        draft_secs += t.elapsed().as_secs_f64();
        // Check: the last token and the drafts in one step, logits for each.
        batch.clear();
        batch.add(*seq.last().unwrap(), tlen as i32, &[0], true)?;
        for (j, &token) in drafts.iter().enumerate() {
            batch.add(token, (tlen + 1 + j) as i32, &[0], true)?;
        }
        tctx.decode(&mut batch)?;
        steps += 1;
        let mut k = 0;
        let mut next = argmax(tctx.get_logits_ith(0));
        while k < drafts.len() && drafts[k] == next && !model.vocab().is_eog(next) {
            k += 1;
            next = argmax(tctx.get_logits_ith(k as i32));
        }
        drafted += drafts.len();
        kept += k;
        let before = seq.len();
        seq.extend_from_slice(&drafts[..k]);
        seq.push(next);
        tlen += 1 + k;
        tctx.clear_kv_cache_seq(Some(0), Some(tlen as u32), None)?;
        if gamma > 0 {
            dlen = before + k.min(gamma - 1);
            dctx.clear_kv_cache_seq(Some(0), Some(dlen as u32), None)?;
        }
        // An end of generation inside the kept run ends the answer there.
        if let Some(end) = seq[before..].iter().position(|&t| model.vocab().is_eog(t)) {
            seq.truncate(before + end + 1);
        }
        seq.truncate(prompt.len() + MAX_NEW);
    }
    Ok(Run {
        steps,
        tokens: seq[prompt.len()..].to_vec(),
        draft_secs,
        drafted,
        kept,
    })
}

fn argmax(logits: &[f32]) -> LlamaToken {
    let (best, _) = logits
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        });
    LlamaToken(best as i32)
}

/// The last `max` bytes of `text`, from a line start.
fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut from = text.len() - max;
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let from = text[from..].find('\n').map_or(from, |i| from + i + 1);
    &text[from..]
}

/// The first `max` bytes of `text`, up to a line end.
fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut max = max;
    while !text.is_char_boundary(max) {
        max -= 1;
    }
    let to = text[..max].rfind('\n').map_or(max, |i| i + 1);
    &text[..to]
}
