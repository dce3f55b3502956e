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
mod tests {
    use super::*;

    fn chunks(api: Api, chat: bool, stream: &str) -> Vec<Chunk> {
        stream
            .lines()
            .filter_map(|l| parse_line(api, chat, l))
            .collect()
    }

    fn text(c: &[Chunk]) -> String {
        c.iter().map(|c| c.text.as_str()).collect()
    }

    #[test]
    fn openai_completion_stream_with_usage() {
        // vLLM's shape with `stream_options.include_usage` (usage null until the end).
        let c = chunks(
            Api::OpenAi,
            false,
            r#"data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"def","logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" f","logprobs":null,"finish_reason":"length"}],"usage":null}

data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":4}}}

data: [DONE]
"#,
        );
        assert_eq!(text(&c), "def f");
        assert_eq!(c[1].finish, Some(Finish::Length));
        let u = c[2].usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.cached_tokens, u.generated_tokens),
            (Some(5), Some(4), Some(2))
        );
        assert!(c[3].end && c[..3].iter().all(|c| !c.end));
    }

    #[test]
    fn openai_chat_stream() {
        let c = chunks(
            Api::OpenAi,
            true,
            r#": keep-alive
data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}
data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"The bug"},"finish_reason":null}]}
data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}
data: [DONE]"#,
        );
        assert_eq!(text(&c), "The bug");
        assert_eq!(c[2].finish, Some(Finish::EndOfGeneration));
        assert!(c[3].end);
    }

    #[test]
    fn llama_server_completion_stream() {
        let c = chunks(
            Api::LlamaServer,
            false,
            r#"data: {"index":0,"content":"    return","tokens":[],"stop":false,"id_slot":-1,"tokens_predicted":1,"tokens_evaluated":20}

data: {"index":0,"content":"","tokens":[],"id_slot":0,"stop":true,"model":"m","tokens_predicted":8,"tokens_evaluated":20,"stop_type":"limit","stopping_word":"","tokens_cached":27,"timings":{"cache_n":12,"prompt_n":8,"prompt_ms":300.5,"predicted_n":8,"predicted_ms":500.0}}
"#,
        );
        assert_eq!(text(&c), "    return");
        let last = c.last().unwrap();
        assert!(last.end);
        assert_eq!(last.finish, Some(Finish::Length));
        let u = last.usage.unwrap();
        assert_eq!(u.cached_tokens, Some(12));
        assert_eq!(u.prompt_ms, Some(300.5));
    }

    #[test]
    fn ollama_generate_and_chat_streams() {
        // From Ollama's API documentation.
        let c = chunks(
            Api::Ollama,
            false,
            r#"{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","response":"The","done":false}
{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","response":"","done":true,"done_reason":"stop","context":[1,2,3],"total_duration":10706818083,"load_duration":6338219291,"prompt_eval_count":26,"prompt_eval_duration":130079000,"eval_count":259,"eval_duration":4232710000}"#,
        );
        assert_eq!(text(&c), "The");
        assert!(c[1].end);
        assert_eq!(c[1].finish, Some(Finish::EndOfGeneration));
        assert_eq!(c[1].usage.unwrap().prompt_ms, Some(130.079));
        let c = chunks(
            Api::Ollama,
            true,
            r#"{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":"The","images":null},"done":false}
{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","eval_count":3}"#,
        );
        assert_eq!(text(&c), "The");
        assert_eq!(c[1].finish, Some(Finish::Length));
    }

    #[test]
    fn errors_in_and_around_streams() {
        assert_eq!(
            error_message(r#"{"error":"model 'llama3' not found, try pulling it first"}"#)
                .as_deref(),
            Some("model 'llama3' not found, try pulling it first")
        );
        assert_eq!(
            error_message(
                r#"{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}"#
            )
            .as_deref(),
            Some("Invalid API Key")
        );
        assert_eq!(
            error_message(
                r#"{"object":"error","message":"x","detail":"The model `m` does not exist."}"#
            )
            .as_deref(),
            Some("The model `m` does not exist.")
        );
        assert_eq!(error_message("<html>502</html>"), None);
        let c = parse_line(
            Api::LlamaServer,
            false,
            r#"error: {"code":500,"message":"the context is full","type":"server_error"}"#,
        )
        .unwrap();
        assert_eq!(c.error.as_deref(), Some("the context is full"));
        assert!(
            parse_line(Api::OpenAi, false, "data: {not json")
                .unwrap()
                .error
                .is_some()
        );
        assert_eq!(parse_line(Api::OpenAi, false, "event: ping"), None);
        assert_eq!(parse_line(Api::Ollama, false, "  "), None);
    }

    #[test]
    fn request_bodies() {
        let p = |prompt| Params {
            prompt,
            model: Some("qwen"),
            max_tokens: 48,
            sampling: Sampling::default(),
            ignore_eog: false,
            cache_prompt: true,
            n_ctx: 4096,
            logprobs: None,
        };
        let c = request(Api::OpenAi, &p(Prompt::Text("<|fim_prefix|>a")));
        assert_eq!(c.path, "/v1/completions");
        assert_eq!(c.body["prompt"], "<|fim_prefix|>a");
        assert_eq!(c.body["max_tokens"], 48);
        assert_eq!(c.body["temperature"], 0.0);
        assert_eq!(c.body["model"], "qwen");
        assert!(c.body.get("top_k").is_none());
        let c = request(Api::LlamaServer, &p(Prompt::Text("x")));
        assert_eq!(c.path, "/completion");
        assert_eq!(c.body["n_predict"], 48);
        assert_eq!(c.body["cache_prompt"], true);
        assert_eq!(c.body["top_k"], 1);
        let m = [ChatMessage::new("user", "why?")];
        let c = request(Api::LlamaServer, &p(Prompt::Chat(&m)));
        assert_eq!(c.path, "/v1/chat/completions");
        assert!(c.chat);
        assert_eq!(c.body["messages"][0]["content"], "why?");
        let c = request(Api::Ollama, &p(Prompt::Text("x")));
        assert_eq!(c.path, "/api/generate");
        assert_eq!(c.body["raw"], true);
        assert_eq!(c.body["options"]["num_predict"], 48);
        assert_eq!(c.body["options"]["num_ctx"], 4096);
        assert_eq!(request(Api::Ollama, &p(Prompt::Chat(&m))).path, "/api/chat");
    }

    #[test]
    fn logprobs_in_every_shape() {
        // llama-server's `/completion` with `n_probs` (recorded from the live server).
        let c = chunks(
            Api::LlamaServer,
            false,
            r#"data: {"index":0,"content":"\n","tokens":[198],"stop":false,"completion_probabilities":[{"id":198,"token":"\n","bytes":[10],"logprob":-0.39,"top_logprobs":[{"id":198,"token":"\n","bytes":[10],"logprob":-0.39},{"id":271,"token":"\n\n","bytes":[10,10],"logprob":-1.23},{"id":151643,"token":"","bytes":[],"logprob":-4.9},{"id":5,"token":"\ufffd","bytes":[230],"logprob":-6.0}]}]}"#,
        );
        let lp = &c[0].logprobs;
        assert_eq!(lp.len(), 1);
        assert_eq!((lp[0].text.as_str(), lp[0].logprob), ("\n", -0.39));
        let top: Vec<&str> = lp[0].top.iter().map(|t| t.0.as_str()).collect();
        // End of generation and a byte of a longer character are not text.
        assert_eq!(top, ["\n", "\n\n", "", ""]);
        // llama-server's `/v1/completions` (chat-style token objects, recorded).
        let c = chunks(
            Api::OpenAi,
            false,
            r#"data: {"choices":[{"text":"return","index":0,"logprobs":{"content":[{"id":689,"token":"return","bytes":[114,101,116,117,114,110],"logprob":-0.27,"top_logprobs":[{"id":1350,"token":"print","bytes":[112,114,105,110,116],"logprob":-2.96},{"id":689,"token":"return","bytes":[114,101,116,117,114,110],"logprob":-0.27}]}]},"finish_reason":null}],"object":"text_completion"}"#,
        );
        let lp = &c[0].logprobs[0];
        assert_eq!(lp.text, "return");
        // Most likely first, whatever order the server sent.
        assert_eq!(
            lp.top,
            [("return".to_string(), -0.27), ("print".to_string(), -2.96)]
        );
        // vLLM and OpenAI: the legacy completions shape.
        let c = chunks(
            Api::OpenAi,
            false,
            r#"data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" a +","logprobs":{"text_offset":[0,2],"token_logprobs":[-0.01,-0.5],"tokens":[" a"," +"],"top_logprobs":[{" a":-0.01," b":-4.2},{" -":-1.1," +":-0.5}]},"finish_reason":null}],"usage":null}"#,
        );
        let lp = &c[0].logprobs;
        assert_eq!(lp.len(), 2);
        assert_eq!((lp[1].text.as_str(), lp[1].logprob), (" +", -0.5));
        assert_eq!(lp[1].top[0], (" +".to_string(), -0.5));
        assert_eq!(lp[1].top[1], (" -".to_string(), -1.1));
        // Ollama's `/api/generate` with `logprobs` and `top_logprobs`.
        let c = chunks(
            Api::Ollama,
            false,
            r#"{"model":"qwen2.5-coder:1.5b","created_at":"2025-11-20T10:00:00Z","response":"Hello","done":false,"logprobs":[{"token":"Hello","logprob":-0.2,"top_logprobs":[{"token":"Hello","logprob":-0.2},{"token":"Hi","logprob":-1.9}]}]}"#,
        );
        assert_eq!(c[0].logprobs[0].top[1], ("Hi".to_string(), -1.9));
        // None asked for, none given.
        let c = chunks(
            Api::OpenAi,
            false,
            r#"data: {"choices":[{"index":0,"text":"x","logprobs":null,"finish_reason":null}]}"#,
        );
        assert!(c[0].logprobs.is_empty());
    }

    #[test]
    fn logprobs_are_asked_for_in_each_dialect() {
        let p = Params {
            prompt: Prompt::Text("x"),
            model: None,
            max_tokens: 8,
            sampling: Sampling::default(),
            ignore_eog: false,
            cache_prompt: true,
            n_ctx: 4096,
            logprobs: Some(4),
        };
        assert_eq!(request(Api::OpenAi, &p).body["logprobs"], 4);
        assert_eq!(request(Api::LlamaServer, &p).body["n_probs"], 4);
        let o = request(Api::Ollama, &p).body;
        assert_eq!(
            (&o["logprobs"], &o["top_logprobs"]),
            (&json!(true), &json!(4))
        );
        let m = [ChatMessage::new("user", "why?")];
        let chat = Params {
            prompt: Prompt::Chat(&m),
            ..p
        };
        assert!(request(Api::OpenAi, &chat).body.get("logprobs").is_none());
    }

    #[test]
    fn listed_models() {
        let v: Value = serde_json::from_str(
            r#"{"object":"list","data":[{"id":"Qwen/Qwen2.5-Coder-7B","object":"model"}]}"#,
        )
        .unwrap();
        assert_eq!(model_names(Api::OpenAi, &v), ["Qwen/Qwen2.5-Coder-7B"]);
        let v: Value =
            serde_json::from_str(r#"{"models":[{"name":"qwen2.5-coder:1.5b","size":1}]}"#).unwrap();
        assert_eq!(model_names(Api::Ollama, &v), ["qwen2.5-coder:1.5b"]);
    }
}
