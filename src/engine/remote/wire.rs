//! What goes over the wire for each server API: the request body for a prompt and the
//! parsing of the streamed answer, line by line. Pure functions, tested against answers
//! recorded from each server's documentation and from a live llama-server.

use serde_json::{Value, json};

use crate::engine::{ChatMessage, Sampling};

/// The dialect a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenAI-compatible `/v1/completions` and `/v1/chat/completions` (vLLM, llama-server,
    /// TGI, SGLang, LM Studio, hosted APIs).
    OpenAi,
    /// llama.cpp's llama-server: `/completion` with its prompt cache, chat through its
    /// OpenAI-compatible endpoint.
    LlamaServer,
    /// Ollama: `/api/generate` with `raw: true`, `/api/chat`.
    Ollama,
}

impl Api {
    pub const NAMES: [&'static str; 3] = ["openai", "llama-server", "ollama"];

    pub fn from_name(name: &str) -> Option<Api> {
        match name {
            "openai" => Some(Api::OpenAi),
            "llama-server" | "llama.cpp" => Some(Api::LlamaServer),
            "ollama" => Some(Api::Ollama),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::LlamaServer => "llama-server",
            Api::Ollama => "ollama",
        }
    }

    /// Answers stream as server-sent events (`data: {...}`), else as JSON lines (Ollama).
    pub fn sse(self) -> bool {
        self != Api::Ollama
    }
}

/// What to ask for.
pub enum Prompt<'a> {
    /// A raw prompt, special-token markup included (fill-in-the-middle).
    Text(&'a str),
    /// A conversation; the server applies its model's chat template.
    Chat(&'a [ChatMessage]),
}

/// One generation's parameters.
pub struct Params<'a> {
    pub prompt: Prompt<'a>,
    /// The model name the server knows, where the API wants one.
    pub model: Option<&'a str>,
    pub max_tokens: u32,
    pub sampling: Sampling,
    /// Generate through end-of-generation tokens (fixed-length benchmarks).
    pub ignore_eog: bool,
    /// Let the server keep the prompt's cache for the next request (llama-server).
    pub cache_prompt: bool,
    /// The context window to ask for where the server sizes it per request (Ollama,
    /// whose default is smaller than quill's prompts).
    pub n_ctx: u32,
    /// `Some(k)`: report each generated token's log-probability and the `k` most likely
    /// tokens at its place (ranked candidates). Completions only.
    pub logprobs: Option<u32>,
}

/// An HTTP request: the path under the base URL and the JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub path: &'static str,
    pub body: Value,
    /// The answer is a conversation's (chat shapes).
    pub chat: bool,
}

/// The request for a streamed generation.
pub fn request(api: Api, p: &Params) -> Call {
    let greedy = p.sampling.temperature <= 0.0;
    let (path, chat, mut body) = match (api, &p.prompt) {
        (Api::OpenAi, Prompt::Text(t)) => (
            "/v1/completions",
            false,
            json!({"prompt": t, "max_tokens": p.max_tokens, "stream": true,
                   "stream_options": {"include_usage": true}}),
        ),
        (Api::OpenAi | Api::LlamaServer, Prompt::Chat(m)) => (
            "/v1/chat/completions",
            true,
            json!({"messages": messages(m), "max_tokens": p.max_tokens, "stream": true,
                   "stream_options": {"include_usage": true}}),
        ),
        (Api::LlamaServer, Prompt::Text(t)) => (
            "/completion",
            false,
            json!({"prompt": t, "n_predict": p.max_tokens, "stream": true,
                   "cache_prompt": p.cache_prompt, "ignore_eos": p.ignore_eog}),
        ),
        (Api::Ollama, Prompt::Text(t)) => (
            "/api/generate",
            false,
            json!({"prompt": t, "raw": true, "stream": true}),
        ),
        (Api::Ollama, Prompt::Chat(m)) => (
            "/api/chat",
            true,
            json!({"messages": messages(m), "stream": true}),
        ),
    };
    let obj = body.as_object_mut().expect("a JSON object");
    if let Some(m) = p.model {
        obj.insert("model".into(), json!(m));
    }
    // Greedy decoding is asked for as a temperature of 0 and a top-k of 1: servers differ
    // in what a temperature of 0 alone means.
    if let (Some(k), Prompt::Text(_)) = (p.logprobs, &p.prompt) {
        match api {
            Api::OpenAi => obj.insert("logprobs".into(), json!(k)),
            Api::LlamaServer => obj.insert("n_probs".into(), json!(k)),
            Api::Ollama => {
                obj.insert("logprobs".into(), json!(true));
                obj.insert("top_logprobs".into(), json!(k))
            }
        };
    }
    let temperature = if greedy { 0.0 } else { p.sampling.temperature };
    let top_k = if greedy { 1 } else { p.sampling.top_k };
    match api {
        Api::Ollama => {
            obj.insert(
                "options".into(),
                json!({"temperature": temperature, "top_k": top_k, "top_p": p.sampling.top_p,
                       "seed": p.sampling.seed, "num_predict": p.max_tokens, "num_ctx": p.n_ctx}),
            );
        }
        Api::OpenAi | Api::LlamaServer => {
            obj.insert("temperature".into(), json!(temperature));
            obj.insert(
                "top_p".into(),
                json!(if greedy { 1.0 } else { p.sampling.top_p }),
            );
            obj.insert("seed".into(), json!(p.sampling.seed));
            if api == Api::LlamaServer || !greedy {
                // Not in OpenAI's schema; vLLM, SGLang and llama-server take it.
                obj.insert("top_k".into(), json!(top_k));
            }
            if api == Api::OpenAi && p.ignore_eog {
                obj.insert("ignore_eos".into(), json!(true));
            }
        }
    }
    Call { path, body, chat }
}

fn messages(m: &[ChatMessage]) -> Value {
    Value::Array(
        m.iter()
            .map(|m| json!({"role": m.role, "content": m.content}))
            .collect(),
    )
}

/// Why the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its answer (or a stop word).
    EndOfGeneration,
    /// `max_tokens` reached.
    Length,
}

/// What the server reported it did, where it says.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub prompt_tokens: Option<u32>,
    /// Prompt tokens the server found in its cache.
    pub cached_tokens: Option<u32>,
    pub generated_tokens: Option<u32>,
    pub prompt_ms: Option<f64>,
    pub generate_ms: Option<f64>,
}

/// One line of a streamed answer, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Chunk {
    pub text: String,
    pub finish: Option<Finish>,
    pub usage: Option<Usage>,
    /// The answer is complete (`[DONE]`, `stop: true`, `done: true`).
    pub end: bool,
    /// The server reported an error inside the stream.
    pub error: Option<String>,
    /// The log-probabilities of the tokens this chunk carries, where asked for and given.
    pub logprobs: Vec<TokenLogprob>,
}

/// A generated token's log-probability and the most likely tokens at its place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenLogprob {
    pub text: String,
    pub logprob: f32,
    /// The most likely tokens there, most likely first (the generated one among them).
    /// A token that is not text (end of generation, a byte of a longer character) is
    /// spelled as the empty string.
    pub top: Vec<(String, f32)>,
}

/// Parses one line of a streamed answer; `None` for lines that carry nothing (blank lines,
/// SSE comments and event names).
pub fn parse_line(api: Api, chat: bool, line: &str) -> Option<Chunk> {
    let line = line.trim_end_matches(['\r', '\n']);
    let json = if api.sse() {
        if let Some(rest) = line.strip_prefix("error:") {
            // llama-server reports an error after the stream began this way.
            return Some(Chunk {
                error: Some(
                    serde_json::from_str::<Value>(rest.trim())
                        .ok()
                        .and_then(|v| error_in(&v).or(v["message"].as_str().map(str::to_string)))
                        .unwrap_or_else(|| clip(rest)),
                ),
                end: true,
                ..Chunk::default()
            });
        }
        let data = line.strip_prefix("data:")?.trim_start();
        if data == "[DONE]" {
            return Some(Chunk {
                end: true,
                ..Chunk::default()
            });
        }
        data
    } else {
        if line.trim().is_empty() {
            return None;
        }
        line
    };
    let v: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(_) => {
            return Some(Chunk {
                error: Some(format!(
                    "the server sent a line that is not JSON: {}",
                    clip(json)
                )),
                end: true,
                ..Chunk::default()
            });
        }
    };
    if let Some(message) = error_in(&v) {
        return Some(Chunk {
            error: Some(message),
            end: true,
            ..Chunk::default()
        });
    }
    let mut c = Chunk::default();
    match (api, chat) {
        (Api::OpenAi, _) | (Api::LlamaServer, true) => {
            if let Some(choice) = v["choices"].get(0) {
                let text = if chat {
                    &choice["delta"]["content"]
                } else {
                    &choice["text"]
                };
                c.text = text.as_str().unwrap_or_default().to_string();
                c.finish = match choice["finish_reason"].as_str() {
                    Some("length") => Some(Finish::Length),
                    Some(_) => Some(Finish::EndOfGeneration),
                    None => None,
                };
                if !chat {
                    c.logprobs = openai_logprobs(&choice["logprobs"]);
                }
            }
            if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                c.usage = Some(Usage {
                    prompt_tokens: int(&u["prompt_tokens"]),
                    cached_tokens: int(&u["prompt_tokens_details"]["cached_tokens"]),
                    generated_tokens: int(&u["completion_tokens"]),
                    ..Usage::default()
                });
            }
        }
        (Api::LlamaServer, false) => {
            c.text = v["content"].as_str().unwrap_or_default().to_string();
            c.logprobs = token_objects(&v["completion_probabilities"]);
            if v["stop"].as_bool() == Some(true) {
                c.end = true;
                c.finish = Some(match v["stop_type"].as_str() {
                    Some("limit") => Finish::Length,
                    _ => Finish::EndOfGeneration,
                });
                let t = &v["timings"];
                c.usage = Some(Usage {
                    prompt_tokens: int(&v["tokens_evaluated"]),
                    cached_tokens: int(&t["cache_n"]),
                    generated_tokens: int(&t["predicted_n"]),
                    prompt_ms: t["prompt_ms"].as_f64(),
                    generate_ms: t["predicted_ms"].as_f64(),
                });
            }
        }
        (Api::Ollama, _) => {
            let text = if chat {
                &v["message"]["content"]
            } else {
                &v["response"]
            };
            c.text = text.as_str().unwrap_or_default().to_string();
            if !chat {
                c.logprobs = token_objects(&v["logprobs"]);
            }
            if v["done"].as_bool() == Some(true) {
                c.end = true;
                c.finish = Some(match v["done_reason"].as_str() {
                    Some("length") => Finish::Length,
                    _ => Finish::EndOfGeneration,
                });
                let ns = |x: &Value| x.as_f64().map(|n| n / 1e6);
                c.usage = Some(Usage {
                    prompt_tokens: int(&v["prompt_eval_count"]),
                    cached_tokens: None,
                    generated_tokens: int(&v["eval_count"]),
                    prompt_ms: ns(&v["prompt_eval_duration"]),
                    generate_ms: ns(&v["eval_duration"]),
                });
            }
        }
    }
    Some(c)
}

/// Log-probabilities in an OpenAI completion choice: the legacy completions shape
/// (`tokens`, `token_logprobs`, `top_logprobs` as objects; vLLM, OpenAI) or the chat shape
/// (`content`, a list of token objects; llama-server's `/v1/completions`).
fn openai_logprobs(v: &Value) -> Vec<TokenLogprob> {
    if v["content"].is_array() {
        return token_objects(&v["content"]);
    }
    let (Some(tokens), Some(lps)) = (v["tokens"].as_array(), v["token_logprobs"].as_array()) else {
        return Vec::new();
    };
    let tops = v["top_logprobs"].as_array();
    tokens
        .iter()
        .zip(lps)
        .enumerate()
        .map(|(i, (t, lp))| {
            let mut top: Vec<(String, f32)> = tops
                .and_then(|t| t.get(i))
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_f64().unwrap_or(f64::NEG_INFINITY) as f32))
                        .collect()
                })
                .unwrap_or_default();
            top.sort_by(|a, b| b.1.total_cmp(&a.1));
            TokenLogprob {
                text: t.as_str().unwrap_or_default().to_string(),
                logprob: lp.as_f64().unwrap_or(f64::NEG_INFINITY) as f32,
                top,
            }
        })
        .collect()
}

/// A list of token objects, `{token, logprob, bytes, top_logprobs: [{token, logprob,
/// bytes}]}` (llama-server, Ollama, OpenAI chat): the text from `bytes` where they are
/// whole UTF-8, else `token`.
fn token_objects(v: &Value) -> Vec<TokenLogprob> {
    fn one(t: &Value) -> (String, f32) {
        let bytes: Option<Vec<u8>> = t["bytes"].as_array().map(|b| {
            b.iter()
                .filter_map(|x| x.as_u64().and_then(|x| u8::try_from(x).ok()))
                .collect()
        });
        let text = match bytes.map(String::from_utf8) {
            Some(Ok(s)) => s,
            // Part of a character: not text on its own.
            Some(Err(_)) => String::new(),
            None => t["token"].as_str().unwrap_or_default().to_string(),
        };
        let lp = t["logprob"].as_f64().unwrap_or(f64::NEG_INFINITY) as f32;
        (text, lp)
    }
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|t| {
                    let (text, logprob) = one(t);
                    let mut top: Vec<(String, f32)> = t["top_logprobs"]
                        .as_array()
                        .map(|a| a.iter().map(one).collect())
                        .unwrap_or_default();
                    top.sort_by(|a, b| b.1.total_cmp(&a.1));
                    TokenLogprob { text, logprob, top }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn int(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// The message of an error answer (`{"error": {"message": ...}}`, `{"error": "..."}`,
/// `{"detail": ...}`), if the body is one.
pub fn error_message(body: &str) -> Option<String> {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| error_in(&v))
}

fn error_in(v: &Value) -> Option<String> {
    let e = v.get("error").or_else(|| v.get("detail"))?;
    match e {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => Some(
            o.get("message")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| e.to_string()),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// At most 200 characters of `s`, for error messages.
pub fn clip(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The model names a server lists: `/v1/models` (`data[].id`) or Ollama's `/api/tags`
/// (`models[].name`).
pub fn model_names(api: Api, body: &Value) -> Vec<String> {
    let (list, field) = match api {
        Api::Ollama => (&body["models"], "name"),
        Api::OpenAi | Api::LlamaServer => (&body["data"], "id"),
    };
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m[field].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Where a server lists its models.
pub fn models_path(api: Api) -> &'static str {
    match api {
        Api::Ollama => "/api/tags",
        Api::OpenAi | Api::LlamaServer => "/v1/models",
    }
}

#[cfg(test)]
mod tests;
