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
        error_message(r#"{"error":"model 'llama3' not found, try pulling it first"}"#).as_deref(),
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
