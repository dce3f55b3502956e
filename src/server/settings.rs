//! Server settings, from `initializationOptions` and `workspace/didChangeConfiguration`.
//!
//! Every setting is validated; a bad value or an unknown key is reported back (the server
//! shows it with `window/showMessage`) and the previous value is kept. Config that breaks
//! silently is a bug. README.md documents each setting; the VS Code client's package.json
//! must list the same ones (a test checks [`KEYS`] against it).

use serde_json::{Map, Value};

use crate::config::{CompletionConfig, Ranking};
use crate::engine::config::{
    DEFAULT_CONTEXT_SIZE, FlashAttention, default_gpu_layers, default_threads,
};
use crate::engine::remote::RemoteConfig;
use crate::engine::remote::wire::Api;

/// Every user setting's key, as clients send it.
pub const KEYS: [&str; 21] = [
    "model",
    "backend",
    "threads",
    "gpuLayers",
    "contextSize",
    "flashAttention",
    "maxTokens",
    "prefixTokens",
    "suffixTokens",
    "contextTokens",
    "debounceMs",
    "languages",
    "warmup",
    "reviewOnSave",
    "nextEdits",
    "firstLine",
    "prefetch",
    "timeBudgetMs",
    "draftTokens",
    "candidates",
    "rankBy",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// A model name from the manifest, or a GGUF path; `None` for the default model.
    pub model: Option<String>,
    /// Run the model on this inference server instead of in-process; `model` then names a
    /// GGUF with its vocabulary.
    pub backend: Option<RemoteConfig>,
    pub threads: usize,
    pub gpu_layers: u32,
    pub context_size: u32,
    /// llama.cpp's flash attention kernel (`auto`: off on a CPU for narrow attention heads).
    pub flash_attention: FlashAttention,
    /// Most tokens generated per completion (lines get at most 48).
    pub max_tokens: u32,
    pub prefix_tokens: usize,
    pub suffix_tokens: usize,
    /// Token budget for context from other files.
    pub context_tokens: usize,
    /// Wait this long before generating; a newer request in the meantime wins.
    pub debounce_ms: u64,
    /// Language ids to complete in; `None` means every language.
    pub languages: Option<Vec<String>>,
    /// Prefill the prompt in the background after opening a file or a pause in typing.
    pub warmup: bool,
    /// Review the function last edited when the file is saved (bug hints as diagnostics).
    pub review_on_save: bool,
    /// Push next-edit suggestions (`quill/nextEdit` notifications) when typing pauses.
    pub next_edits: bool,
    /// Answer from recent generations when the user types what they suggested. An
    /// experiment switch (`{"experiments": {"suggestionCache": false}}`), not a user
    /// setting: benchmarks turn it off to measure the model alone.
    pub suggestion_cache: bool,
    /// Answer a block as soon as its first line is ready; the rest goes on in the
    /// background into the suggestion cache.
    pub first_line: bool,
    /// After an accepted suggestion at the end of a line, generate the next line in the
    /// background.
    pub prefetch: bool,
    /// Growing ghost text: a line still being generated after this long is answered with
    /// its words ready so far, and the client is told when the rest is there (a block with
    /// `firstLine` off: the lines ready). 0: wait for the whole answer. 250 ms by the
    /// typing replay (BENCHMARKS.md, "Growing ghost text").
    pub time_budget_ms: u64,
    /// Speculative decoding: most draft tokens checked per step (0: off).
    pub draft_tokens: usize,
    /// Ranked candidates per inline completion (1: the greedy answer alone).
    pub candidates: u32,
    /// How ranked candidates are ordered: `confidence` or `likelihood`.
    pub rank_by: Ranking,
}

impl Default for Settings {
    fn default() -> Self {
        let c = CompletionConfig::default();
        Settings {
            model: None,
            backend: None,
            threads: default_threads(),
            gpu_layers: default_gpu_layers(),
            context_size: DEFAULT_CONTEXT_SIZE,
            flash_attention: FlashAttention::Auto,
            max_tokens: c.max_tokens_block,
            prefix_tokens: c.prefix_tokens,
            suffix_tokens: c.suffix_tokens,
            context_tokens: c.context_tokens,
            debounce_ms: 0,
            languages: None,
            warmup: true,
            review_on_save: false,
            next_edits: true,
            suggestion_cache: true,
            first_line: true,
            prefetch: true,
            time_budget_ms: 250,
            draft_tokens: c.draft_tokens,
            candidates: c.candidates,
            rank_by: c.candidate_ranking,
        }
    }
}

impl Settings {
    /// The completion settings these imply.
    pub fn completion(&self) -> CompletionConfig {
        CompletionConfig {
            prefix_tokens: self.prefix_tokens,
            suffix_tokens: self.suffix_tokens,
            context_tokens: self.context_tokens,
            draft_tokens: self.draft_tokens,
            candidates: self.candidates,
            candidate_ranking: self.rank_by,
            ..CompletionConfig::default()
        }
        .with_max_tokens(self.max_tokens)
    }

    /// True when completions are enabled for `language_id`.
    pub fn enabled(&self, language_id: &str) -> bool {
        self.languages.as_ref().is_none_or(|l| {
            l.iter()
                .any(|x| x == "*" || x.eq_ignore_ascii_case(language_id))
        })
    }

    /// True when a change between `self` and `other` needs the model reloaded.
    pub fn needs_reload(&self, other: &Settings) -> bool {
        self.model != other.model
            || self.backend != other.backend
            || self.threads != other.threads
            || self.gpu_layers != other.gpu_layers
            || self.context_size != other.context_size
            || self.flash_attention != other.flash_attention
    }

    /// Applies the keys present in `value` (an object; `{"quill": {…}}` is unwrapped) over
    /// `self`. Returns one message per rejected key; those keys keep their old value.
    pub fn apply(&mut self, value: &Value) -> Vec<String> {
        let mut problems = Vec::new();
        let obj: &Map<String, Value> = match value {
            Value::Null => return problems,
            Value::Object(o) => match o.get("quill") {
                Some(Value::Object(inner)) => inner,
                _ => o,
            },
            other => {
                problems.push(format!("settings must be an object, got {other}"));
                return problems;
            }
        };
        for (key, v) in obj {
            if let Err(e) = self.apply_one(key, v) {
                problems.push(e);
            }
        }
        problems
    }

    fn apply_one(&mut self, key: &str, v: &Value) -> Result<(), String> {
        let keep =
            |what: &str| format!("{key} = {v} is invalid ({what}); keeping the previous value");
        let uint = |min: u64, max: u64| -> Result<u64, String> {
            match v.as_u64() {
                Some(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(keep(&format!(
                    "expected a whole number from {min} to {max}"
                ))),
            }
        };
        let boolean = || v.as_bool().ok_or_else(|| keep("expected true or false"));
        match key {
            "model" => match v {
                Value::Null => self.model = None,
                Value::String(s) if s.trim().is_empty() => self.model = None,
                Value::String(s) => self.model = Some(s.trim().to_string()),
                _ => return Err(keep("expected a model name or a path")),
            },
            "backend" => self.backend = backend(v).map_err(|e| keep(&e))?,
            "threads" => self.threads = uint(1, 256)? as usize,
            "gpuLayers" => self.gpu_layers = uint(0, u32::MAX as u64)? as u32,
            "contextSize" => self.context_size = uint(512, 131_072)? as u32,
            "flashAttention" => {
                self.flash_attention = v
                    .as_str()
                    .and_then(FlashAttention::from_name)
                    .ok_or_else(|| keep("expected \"auto\", \"on\" or \"off\""))?
            }
            "maxTokens" => self.max_tokens = uint(1, 4096)? as u32,
            "prefixTokens" => self.prefix_tokens = uint(0, 65_536)? as usize,
            "suffixTokens" => self.suffix_tokens = uint(0, 65_536)? as usize,
            "contextTokens" => self.context_tokens = uint(0, 65_536)? as usize,
            "debounceMs" => self.debounce_ms = uint(0, 5000)?,
            "languages" => match v {
                Value::Null => self.languages = None,
                Value::Array(items) if items.iter().all(Value::is_string) => {
                    self.languages = Some(
                        items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_string))
                            .collect(),
                    )
                }
                _ => {
                    return Err(keep(
                        "expected a list of language ids, e.g. [\"python\", \"rust\"]",
                    ));
                }
            },
            "warmup" => self.warmup = boolean()?,
            "reviewOnSave" => self.review_on_save = boolean()?,
            "nextEdits" => self.next_edits = boolean()?,
            "experiments" => self.apply_experiments(v).map_err(|e| keep(&e))?,
            "firstLine" => self.first_line = boolean()?,
            "prefetch" => self.prefetch = boolean()?,
            "timeBudgetMs" => self.time_budget_ms = uint(0, 60_000)?,
            "draftTokens" => self.draft_tokens = uint(0, 64)? as usize,
            "candidates" => {
                self.candidates = uint(1, u64::from(crate::engine::MAX_CANDIDATES))? as u32
            }
            "rankBy" => {
                self.rank_by = v
                    .as_str()
                    .and_then(Ranking::from_name)
                    .ok_or_else(|| keep("expected \"confidence\" or \"likelihood\""))?
            }
            unknown => {
                let hint = KEYS
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(unknown) || edit_distance(k, unknown) <= 2)
                    .map(|k| format!("; did you mean {k}?"))
                    .unwrap_or_default();
                return Err(format!("unknown setting {unknown:?}{hint}"));
            }
        }
        Ok(())
    }
}

impl Settings {
    /// The `experiments` object: switches that benchmarks flip to measure one part alone
    /// (they are not user settings; README does not list them). All or nothing: one bad
    /// key keeps every previous value.
    fn apply_experiments(&mut self, v: &Value) -> Result<(), String> {
        let Value::Object(o) = v else {
            return Err("expected an object of experiment switches".into());
        };
        let mut next = self.clone();
        for (key, v) in o {
            let on = v.as_bool();
            match (key.as_str(), on) {
                ("suggestionCache", Some(on)) => next.suggestion_cache = on,
                ("suggestionCache", None) => {
                    return Err(format!("{key} must be true or false"));
                }
                _ => {
                    return Err(format!(
                        "unknown experiment {key:?}; expected suggestionCache"
                    ));
                }
            }
        }
        *self = next;
        Ok(())
    }
}

/// The `backend` setting: `null` (in-process), or `{"url", "api", "model", "apiKeyEnv",
/// "timeoutMs"}` with only `url` required.
fn backend(v: &Value) -> Result<Option<RemoteConfig>, String> {
    let o = match v {
        Value::Null => return Ok(None),
        Value::Object(o) => o,
        _ => return Err("expected null or an object with a url".into()),
    };
    let text = |key: &str| -> Result<Option<String>, String> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(format!("{key} must be a string")),
        }
    };
    for key in o.keys() {
        if !["url", "api", "model", "apiKeyEnv", "timeoutMs"].contains(&key.as_str()) {
            return Err(format!(
                "unknown key {key:?}; expected url, api, model, apiKeyEnv, timeoutMs"
            ));
        }
    }
    let Some(url) = text("url")? else {
        // An object without a url (a client's empty default) means in-process.
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("url {url:?} must start with http:// or https://"));
    }
    let api = match text("api")? {
        None => Api::OpenAi,
        Some(name) => Api::from_name(&name)
            .ok_or_else(|| format!("api {name:?} is not one of {}", Api::NAMES.join(", ")))?,
    };
    let mut cfg = RemoteConfig::new(&url, api);
    cfg.model = text("model")?;
    cfg.api_key_env = text("apiKeyEnv")?;
    if let Some(t) = o.get("timeoutMs") {
        match t.as_u64() {
            Some(ms) if (100..=600_000).contains(&ms) => {
                cfg.timeout = std::time::Duration::from_millis(ms)
            }
            _ => return Err("timeoutMs must be a whole number from 100 to 600000".into()),
        }
    }
    Ok(Some(cfg))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn valid_values_apply() {
        let mut s = Settings::default();
        let problems = s.apply(&json!({
            "model": "qwen2.5-coder-0.5b-instruct-q4_k_m",
            "threads": 3,
            "maxTokens": 64,
            "languages": ["python", "rust"],
            "warmup": false
        }));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(s.threads, 3);
        assert!(s.enabled("python") && !s.enabled("go"));
        assert_eq!(s.completion().max_tokens_line, 48);
        assert_eq!(s.completion().max_tokens_block, 64);
        assert!(!s.warmup);
    }

    #[test]
    fn bad_values_are_reported_and_the_old_value_kept() {
        let mut s = Settings::default();
        let before = s.clone();
        let problems =
            s.apply(&json!({"quill": {"threads": -1, "contextSize": "big", "maxToken": 5}}));
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("did you mean maxTokens"))
        );
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("threads = -1 is invalid"))
        );
        assert_eq!(s, before);
    }

    #[test]
    fn backend_setting() {
        let mut s = Settings::default();
        let problems = s.apply(
            &json!({"backend": {"url": "http://gpu:8000/", "api": "ollama",
            "model": "qwen2.5-coder:7b", "apiKeyEnv": "QUILL_KEY", "timeoutMs": 5000}}),
        );
        assert!(problems.is_empty(), "{problems:?}");
        let b = s.backend.clone().unwrap();
        assert_eq!(b.url, "http://gpu:8000");
        assert_eq!(b.api, Api::Ollama);
        assert_eq!(b.model.as_deref(), Some("qwen2.5-coder:7b"));
        assert_eq!(b.timeout, std::time::Duration::from_secs(5));
        assert!(Settings::default().needs_reload(&s));
        for bad in [
            json!({"backend": "http://x"}),
            json!({"backend": {"url": "gpu:8000"}}),
            json!({"backend": {"url": "http://x", "api": "grpc"}}),
            json!({"backend": {"url": "http://x", "key": "secret"}}),
            json!({"backend": {"url": "http://x", "timeoutMs": 0}}),
        ] {
            let before = s.clone();
            assert_eq!(s.apply(&bad).len(), 1, "{bad}");
            assert_eq!(s, before);
        }
        assert!(s.apply(&json!({"backend": {"url": ""}})).is_empty());
        assert_eq!(s.backend, None);
    }

    #[test]
    fn experiments_are_switched_in_their_own_object() {
        let mut s = Settings::default();
        assert!(s.suggestion_cache);
        assert!(
            s.apply(&json!({"experiments": {"suggestionCache": false}}))
                .is_empty()
        );
        assert!(!s.suggestion_cache);
        // Not a user setting at the top level; a bad switch keeps the old value.
        assert_eq!(s.apply(&json!({"suggestionCache": true})).len(), 1);
        assert_eq!(
            s.apply(&json!({"experiments": {"suggestionCache": 1}}))
                .len(),
            1
        );
        assert!(!s.suggestion_cache);
    }

    #[test]
    fn reload_only_for_engine_settings() {
        let a = Settings::default();
        let mut b = a.clone();
        b.max_tokens = 10;
        assert!(!a.needs_reload(&b));
        b.threads += 1;
        assert!(a.needs_reload(&b));
    }
}
