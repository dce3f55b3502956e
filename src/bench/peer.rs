//! The peer in `quill bench --lsp --peer URL`: llama.cpp's llama-server driven the way
//! llama.vim drives it, so the typing replay can compare the two on the same machine.
//!
//! As llama.vim does: `/infill` with the lines around the cursor (256 before, 64 after),
//! the cursor line's start as `prompt`, chunks of the other open files as `input_extra`,
//! `cache_prompt`, its sampling (top-k 40, top-p 0.90, the infill sampler), 128 tokens at
//! most and its time caps (500 ms of prompt, 1,000 ms of generation); a client-side cache
//! of answers keyed by the text around the cursor, also found again after typing the
//! start of a cached answer; and, after showing a suggestion, a background request for
//! the state after accepting it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::bench::replay::{Completer, Suggestion};

const N_PREFIX: usize = 256;
const N_SUFFIX: usize = 64;
const N_PREDICT: u32 = 128;
const CHUNK_LINES: usize = 64;
const MAX_CHUNKS: usize = 16;
/// How far back the cache looks for an answer whose start was typed since.
const CACHE_LOOKBACK: usize = 64;

#[derive(Default)]
struct Counters {
    generated: u64,
    drafted: u64,
    accepted: u64,
}

pub struct LlamaServer {
    url: String,
    agent: ureq::Agent,
    extra: Vec<Value>,
    cache: Arc<Mutex<HashMap<String, String>>>,
    counters: Arc<Mutex<Counters>>,
    /// The background request for the state after an accept, still running.
    speculative: Option<std::thread::JoinHandle<()>>,
}

/// The request's parts for `cursor` of `doc`, as llama.vim cuts them.
struct Parts {
    prefix: String,
    prompt: String,
    suffix: String,
}

fn parts(doc: &str, cursor: usize) -> Parts {
    let line_start = doc[..cursor].rfind('\n').map_or(0, |i| i + 1);
    let line_end = doc[cursor..].find('\n').map_or(doc.len(), |i| cursor + i);
    let before: Vec<&str> = doc[..line_start].split_inclusive('\n').collect();
    let prefix = before[before.len().saturating_sub(N_PREFIX)..].concat();
    let after: Vec<&str> = doc[line_end..]
        .trim_start_matches('\n')
        .split_inclusive('\n')
        .take(N_SUFFIX)
        .collect();
    Parts {
        prefix,
        prompt: doc[line_start..cursor].to_string(),
        suffix: format!("{}\n{}", &doc[cursor..line_end], after.concat()),
    }
}

fn key(prefix: &str, prompt: &str, suffix: &str) -> String {
    format!("{prefix}\u{1}{prompt}\u{1}{suffix}")
}

impl LlamaServer {
    /// A client of the llama-server at `url`, with the other open files as extra context.
    pub fn new(url: &str, others: &[std::path::PathBuf]) -> Result<LlamaServer> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let mut extra = Vec::new();
        for path in others {
            let text = crate::bench::read_source(path)?;
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            for chunk in lines.chunks(CHUNK_LINES) {
                if extra.len() < MAX_CHUNKS {
                    extra.push(
                        json!({"filename": path.display().to_string(), "text": chunk.concat()}),
                    );
                }
            }
        }
        let url = url.trim_end_matches('/').to_string();
        agent
            .get(&format!("{url}/health"))
            .call()
            .with_context(|| format!("llama-server at {url} does not answer /health"))?;
        Ok(LlamaServer {
            url,
            agent,
            extra,
            cache: Default::default(),
            counters: Default::default(),
            speculative: None,
        })
    }

    /// The cached answer for these parts, also after typing the start of a cached
    /// answer (llama.vim's lookup).
    fn cached(&self, p: &Parts) -> Option<String> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hit) = cache.get(&key(&p.prefix, &p.prompt, &p.suffix)) {
            return Some(hit.clone());
        }
        let chars: Vec<(usize, char)> = p.prompt.char_indices().collect();
        for back in 1..=chars.len().min(CACHE_LOOKBACK) {
            let at = chars[chars.len() - back].0;
            let (earlier, typed) = p.prompt.split_at(at);
            if let Some(hit) = cache.get(&key(&p.prefix, earlier, &p.suffix))
                && let Some(rest) = hit.strip_prefix(typed)
                && !rest.is_empty()
            {
                return Some(rest.to_string());
            }
        }
        None
    }
}

/// One `/infill` request; returns the suggestion (llama.vim's cleanup: trailing blank
/// lines dropped) and stores it in the cache.
fn infill(
    agent: &ureq::Agent,
    url: &str,
    extra: &[Value],
    p: &Parts,
    cache: &Mutex<HashMap<String, String>>,
    counters: &Mutex<Counters>,
) -> Result<String> {
    let indent = p.prompt.len() - p.prompt.trim_start_matches([' ', '\t']).len();
    let body = json!({
        "input_prefix": p.prefix,
        "input_suffix": p.suffix,
        "input_extra": extra,
        "prompt": p.prompt,
        "n_predict": N_PREDICT,
        "n_indent": indent,
        "top_k": 40,
        "top_p": 0.90,
        "samplers": ["top_k", "top_p", "infill"],
        "stream": false,
        "cache_prompt": true,
        "t_max_prompt_ms": 500,
        "t_max_predict_ms": 1000,
    });
    let mut resp = agent
        .post(&format!("{url}/infill"))
        .content_type("application/json")
        .send(body.to_string())
        .context("llama-server /infill")?;
    let text = resp
        .body_mut()
        .read_to_string()
        .context("llama-server's answer")?;
    let v: Value = serde_json::from_str(&text).context("llama-server's answer is not JSON")?;
    let mut content = v["content"].as_str().unwrap_or_default().to_string();
    while content.ends_with('\n') || content.ends_with(' ') {
        content.pop();
    }
    {
        let mut c = counters.lock().unwrap_or_else(|e| e.into_inner());
        c.generated += v["timings"]["predicted_n"].as_u64().unwrap_or(0);
        c.drafted += v["timings"]["draft_n"].as_u64().unwrap_or(0);
        c.accepted += v["timings"]["draft_n_accepted"].as_u64().unwrap_or(0);
    }
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key(&p.prefix, &p.prompt, &p.suffix), content.clone());
    Ok(content)
}

impl Completer for LlamaServer {
    fn edit(&mut self, _old: &str, _new: &str) -> Result<()> {
        Ok(())
    }

    fn suggest(&mut self, doc: &str, cursor: usize) -> Result<Suggestion> {
        let p = parts(doc, cursor);
        if let Some(text) = self.cached(&p) {
            return Ok(Suggestion {
                text,
                cached: true,
                first_ms: None,
            });
        }
        let text = infill(
            &self.agent,
            &self.url,
            &self.extra,
            &p,
            &self.cache,
            &self.counters,
        )?;
        // llama.vim then asks, in the background, for the state after accepting it.
        let busy = self.speculative.as_ref().is_some_and(|h| !h.is_finished());
        if !text.is_empty() && !busy {
            let accepted = format!("{}{text}{}", &doc[..cursor], &doc[cursor..]);
            let next = parts(&accepted, cursor + text.len());
            let (agent, url, extra) = (self.agent.clone(), self.url.clone(), self.extra.clone());
            let (cache, counters) = (self.cache.clone(), self.counters.clone());
            self.speculative = Some(std::thread::spawn(move || {
                let _ = infill(&agent, &url, &extra, &next, &cache, &counters);
            }));
        }
        Ok(Suggestion {
            text,
            cached: false,
            first_ms: None,
        })
    }

    fn generated(&mut self) -> Result<(u64, u64, u64)> {
        let c = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        Ok((c.generated, c.drafted, c.accepted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cut_like_llama_vim() {
        let doc = "a\nb\n    x = fo\nc\n";
        let cursor = doc.find("fo").unwrap() + 2;
        let p = parts(doc, cursor);
        assert_eq!(p.prefix, "a\nb\n");
        assert_eq!(p.prompt, "    x = fo");
        assert_eq!(p.suffix, "\nc\n");
    }
}
