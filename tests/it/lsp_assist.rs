//! Code actions, their lazy resolution, commands and review diagnostics over LSP, with the
//! fake engine answering like a chat model.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::lsp::{Fake, inline_caps, ready, start};
use crate::lsp_client::LspClient;

const PY: &str = "import math\n\n\nclass Stats:\n    def mean(self, xs):\n        total = 0\n        for i in range(1, len(xs)):\n            total += xs[i]\n        return total / len(xs)\n\n\nprint(Stats().mean([1, 2, 3]))\n";

/// Answers like a chat model: a fix, a docstring, broken code, a review, an explanation.
fn chat_model(prompt: &str) -> String {
    if prompt.contains("Fix the bugs") {
        // Written at column 0 with 2-space indents: the server must re-indent it.
        "```python\ndef mean(self, xs):\n  total = 0\n  for i in range(len(xs)):\n    total += xs[i]\n  return total / len(xs)\n```\nStart at 0.".into()
    } else if prompt.contains("Simplify") {
        "```python\ndef mean(self, xs:\n    return sum(xs) / len(xs)\n```\nShorter.".into()
    } else if prompt.contains("LINE <number>") {
        "LINE 7: the loop skips the first element".into()
    } else if prompt.contains("Explain") {
        "The loop starts at 1, so the first element is skipped (line 7).\n\nStart the range at 0."
            .into()
    } else {
        "```python\nx = 1\n```".into()
    }
}

/// A ready server (no warm-up) whose fake model answers with `model`, `token_delay_ms` per
/// token, for a client with `caps`; and the server's capabilities.
async fn start_ready(
    model: Arc<dyn Fn(&str) -> String + Send + Sync>,
    token_delay_ms: u64,
    caps: Value,
) -> (LspClient, Fake, Value) {
    let fake = Fake::default();
    let (mut c, server_caps) = start(
        fake.responder(model, token_delay_ms, 0),
        caps,
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    (c, fake, server_caps)
}

/// A ready server with the chat model, `file:///w/stats.py` open with `text`.
async fn server(text: &str) -> (LspClient, Fake) {
    let (mut c, fake, caps) = start_ready(Arc::new(chat_model), 0, inline_caps()).await;
    assert_eq!(caps["codeActionProvider"]["resolveProvider"], true);
    assert!(
        caps["executeCommandProvider"]["commands"]
            .as_array()
            .unwrap()
            .contains(&json!("quill.explain"))
    );
    c.open("file:///w/stats.py", "python", text).await;
    (c, fake)
}

fn actions_params(uri: &str, line: u32, diagnostics: Value) -> Value {
    json!({
        "textDocument": {"uri": uri},
        "range": {"start": {"line": line, "character": 12}, "end": {"line": line, "character": 12}},
        "context": {"diagnostics": diagnostics},
    })
}

/// The code actions for line `line` of `uri`, with `diagnostics` in their context.
async fn code_actions(c: &mut LspClient, uri: &str, line: u32, diagnostics: Value) -> Value {
    c.request(
        "textDocument/codeAction",
        actions_params(uri, line, diagnostics),
    )
    .await
    .unwrap()
}

/// The code action for line 7 of `uri` whose title starts with `title`, resolved.
async fn resolved_action(c: &mut LspClient, uri: &str, title: &str) -> Value {
    let actions = code_actions(c, uri, 7, json!([])).await;
    let action = titled(&actions, title).clone();
    c.request("codeAction/resolve", action).await.unwrap()
}

/// Runs the command `command` with the one argument `args`.
async fn execute(c: &mut LspClient, command: &str, args: Value) -> Result<Value, Value> {
    c.request(
        "workspace/executeCommand",
        json!({"command": command, "arguments": [args]}),
    )
    .await
}

/// Replaces the text from `from` to `to` ((line, character)) of `uri` with `text`: the
/// document's version `version`.
async fn did_change(
    c: &mut LspClient,
    uri: &str,
    version: u32,
    from: (u32, u32),
    to: (u32, u32),
    text: &str,
) {
    c.notify(
        "textDocument/didChange",
        json!({
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{
                "range": {
                    "start": {"line": from.0, "character": from.1},
                    "end": {"line": to.0, "character": to.1},
                },
                "text": text,
            }],
        }),
    )
    .await;
}

fn titled<'a>(actions: &'a Value, prefix: &str) -> &'a Value {
    actions
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["title"].as_str().unwrap().starts_with(prefix))
        .unwrap_or_else(|| panic!("no action {prefix:?} in {actions}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn menu_opens_without_the_model_and_lists_the_actions() {
    let (mut c, fake) = server(PY).await;
    let diag = json!([{"range": {"start": {"line": 6, "character": 8}, "end": {"line": 6, "character": 40}}, "message": "possible off-by-one", "source": "pylint"}]);
    let actions = code_actions(&mut c, "file:///w/stats.py", 6, diag).await;
    let titles: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    for t in [
        "quill: Explain and fix: possible off-by-one",
        "quill: Fix: possible off-by-one",
        "quill: Explain this code / what is wrong here?",
        "quill: Fix this code",
        "quill: Simplify",
        "quill: Add docstring",
        "quill: Add type hints",
        "quill: Refactor with instruction…",
        "quill: Review for bugs",
    ] {
        assert!(titles.contains(&t), "{t} missing from {titles:?}");
    }
    // Extract only with a selection; edits are computed lazily (no edit yet).
    assert!(!titles.iter().any(|t| t.contains("Extract")));
    assert!(
        titled(&actions, "quill: Fix this code")
            .get("edit")
            .is_none()
    );
    assert!(
        fake.prompts.lock().unwrap().is_empty(),
        "the model ran for the menu"
    );
    // `only` filters by kind.
    let mut p = actions_params("file:///w/stats.py", 6, json!([]));
    p["context"]["only"] = json!(["refactor"]);
    let only = c.request("textDocument/codeAction", p).await.unwrap();
    assert!(
        only.as_array()
            .unwrap()
            .iter()
            .all(|a| a["kind"].as_str().unwrap().starts_with("refactor"))
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_a_fix_gives_an_edit_of_the_function_in_the_files_indentation() {
    let (mut c, _) = server(PY).await;
    let resolved = resolved_action(&mut c, "file:///w/stats.py", "quill: Fix this code").await;
    let edits = &resolved["edit"]["changes"]["file:///w/stats.py"];
    let edit = &edits[0];
    // Limited to the method: lines 4..9 (0-based), nothing else.
    assert_eq!(edit["range"]["start"], json!({"line": 4, "character": 0}));
    assert_eq!(edit["range"]["end"], json!({"line": 9, "character": 0}));
    assert_eq!(
        edit["newText"],
        "    def mean(self, xs):\n      total = 0\n      for i in range(len(xs)):\n        total += xs[i]\n      return total / len(xs)\n"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_that_does_not_parse_is_not_offered_the_answer_is_shown_instead() {
    let (mut c, _) = server(PY).await;
    let resolved = resolved_action(&mut c, "file:///w/stats.py", "quill: Simplify").await;
    assert!(
        resolved.get("edit").is_none() || resolved["edit"].is_null(),
        "{resolved}"
    );
    assert_eq!(resolved["command"]["command"], "quill.showMarkdown");
    let md = resolved["command"]["arguments"][0]["markdown"]
        .as_str()
        .unwrap();
    assert!(
        md.contains("does not parse") && md.contains("Shorter."),
        "{md}"
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_files_get_crlf_edits() {
    let crlf = PY.replace('\n', "\r\n");
    let (mut c, _) = server(&crlf).await;
    let resolved = resolved_action(&mut c, "file:///w/stats.py", "quill: Fix this code").await;
    let text = resolved["edit"]["changes"]["file:///w/stats.py"][0]["newText"]
        .as_str()
        .unwrap();
    assert!(text.contains("range(len(xs)):\r\n"), "{text:?}");
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count());
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_returns_markdown_and_shows_it() {
    let (mut c, fake) = server(PY).await;
    let r = c
        .request(
            "quill/explain",
            json!({"textDocument": {"uri": "file:///w/stats.py"}, "position": {"line": 7, "character": 12},
                   "problems": [{"line": 7, "message": "off-by-one"}]}),
        )
        .await
        .unwrap();
    assert!(
        r["markdown"]
            .as_str()
            .unwrap()
            .contains("first element is skipped")
    );
    // The diagnostic reached the prompt, with numbered lines.
    let prompt = fake.last_prompt();
    assert!(
        prompt.contains("- line 7: off-by-one")
            && prompt.contains("   7 |         for i in range(1, len(xs)):"),
        "{prompt}"
    );
    // The command shows long answers as a document (or a message when it cannot).
    let actions = code_actions(&mut c, "file:///w/stats.py", 7, json!([])).await;
    let cmd = titled(&actions, "quill: Explain this code")["command"].clone();
    let r = c
        .request(
            "workspace/executeCommand",
            json!({"command": cmd["command"], "arguments": cmd["arguments"]}),
        )
        .await
        .unwrap();
    assert!(
        r["markdown"]
            .as_str()
            .unwrap()
            .contains("Start the range at 0")
    );
    let shown = c.wait_notification("window/showDocument", |_| true).await;
    let uri = shown["params"]["uri"].as_str().unwrap();
    assert!(uri.ends_with(".md"), "{uri}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn review_publishes_diagnostics_on_the_exact_line_and_caches_them() {
    let (mut c, fake) = server(PY).await;
    let args = json!({"action": "review", "uri": "file:///w/stats.py",
                      "range": {"start": {"line": 7, "character": 0}, "end": {"line": 7, "character": 0}}});
    let r = execute(&mut c, "quill.review", args.clone()).await.unwrap();
    assert_eq!(r["findings"], 1);
    let d = c
        .wait_notification("textDocument/publishDiagnostics", |p| {
            !p["diagnostics"].as_array().unwrap().is_empty()
        })
        .await;
    let diag = &d["params"]["diagnostics"][0];
    assert_eq!(diag["source"], "quill");
    assert_eq!(diag["severity"], 3, "Information");
    // LINE 7 (1-based) is the `for` line: 0-based line 6, from its first non-blank column.
    assert_eq!(diag["range"]["start"], json!({"line": 6, "character": 8}));
    assert_eq!(diag["message"], "the loop skips the first element");
    // Same function text: served from the cache, no second model run.
    let runs = fake.prompts.lock().unwrap().len();
    execute(&mut c, "quill.review", args).await.unwrap();
    assert_eq!(fake.prompts.lock().unwrap().len(), runs);
    // A line added above moves the finding; changing the function clears it.
    did_change(
        &mut c,
        "file:///w/stats.py",
        2,
        (0, 0),
        (0, 0),
        "import os\n",
    )
    .await;
    let moved = c
        .wait_notification("textDocument/publishDiagnostics", |p| p["version"] == 2)
        .await;
    assert_eq!(
        moved["params"]["diagnostics"][0]["range"]["start"]["line"],
        7
    );
    did_change(&mut c, "file:///w/stats.py", 3, (7, 23), (7, 24), "0").await;
    let cleared = c
        .wait_notification("textDocument/publishDiagnostics", |p| p["version"] == 3)
        .await;
    assert_eq!(cleared["params"]["diagnostics"], json!([]));
    // Quill's own diagnostics get explain and fix actions.
    let actions = code_actions(&mut c, "file:///w/stats.py", 7, json!([diag])).await;
    titled(&actions, "quill: Explain and fix: the loop skips");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refactor_command_needs_an_instruction_and_applies_its_edit() {
    let (mut c, _) = server(PY).await;
    let mut args = json!({"action": "instruction", "uri": "file:///w/stats.py",
                          "range": {"start": {"line": 7, "character": 0}, "end": {"line": 7, "character": 0}}});
    let e = execute(&mut c, "quill.refactor", args.clone())
        .await
        .unwrap_err();
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("needs an instruction"),
        "{e}"
    );
    args["instruction"] = json!("Fix the bugs");
    let r = execute(&mut c, "quill.refactor", args).await.unwrap();
    // The server asked the client to apply the edit (the test client accepts with null,
    // which the server reads as not applied).
    let apply = c.wait_notification("workspace/applyEdit", |_| true).await;
    assert!(
        apply["params"]["edit"]["changes"]["file:///w/stats.py"][0]["newText"]
            .as_str()
            .unwrap()
            .contains("range(len(xs))")
    );
    assert_eq!(r["applied"], Value::Bool(false));
    c.shutdown().await;
}

/// An edit computed on text the user has since changed must not land: versioned
/// `documentChanges` where the client takes them, `ContentModified` when the server
/// saw the change itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_is_versioned_and_never_made_for_text_that_moved_on() {
    let mut caps = inline_caps();
    caps["workspace"] = json!({"workspaceEdit": {"documentChanges": true}});
    let (mut c, _, _) = start_ready(Arc::new(chat_model), 30, caps).await;
    let uri = "file:///w/stats.py";
    c.open(uri, "python", PY).await;
    let actions = code_actions(&mut c, uri, 7, json!([])).await;
    let fix = titled(&actions, "quill: Fix this code").clone();
    let resolved = c.request("codeAction/resolve", fix.clone()).await.unwrap();
    let change = &resolved["edit"]["documentChanges"][0];
    assert_eq!(change["textDocument"]["uri"], uri, "{resolved}");
    assert_eq!(change["textDocument"]["version"], 1);
    assert_eq!(change["edits"][0]["range"]["start"]["line"], 4);

    // The user types while the model works.
    let id = c.start("codeAction/resolve", fix).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    did_change(&mut c, uri, 2, (0, 0), (0, 0), "# \n").await;
    let err = c.response(id).await.unwrap_err();
    assert_eq!(err["code"], -32801, "{err}");
    assert!(
        err["message"].as_str().unwrap().contains("changed"),
        "{err}"
    );
    c.shutdown().await;
}

/// Work the client cancels (`$/cancelRequest`) while the model runs (a code action's
/// resolve, a command) still ends the progress bar it began: every `begin` gets its `end`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_work_still_ends_its_progress_bar() {
    // 600 tokens at 100 ms each: still writing when the cancellation comes.
    let slow: Arc<dyn Fn(&str) -> String + Send + Sync> = Arc::new(|_| "x".repeat(1800));
    let (mut c, _, _) = start_ready(slow, 100, inline_caps()).await;
    let uri = "file:///w/stats.py";
    c.open(uri, "python", PY).await;
    let actions = code_actions(&mut c, uri, 7, json!([])).await;
    let fix = titled(&actions, "quill: Fix this code").clone();
    let explain = titled(&actions, "quill: Explain this code")["command"].clone();
    let work = |t: &Value| t.as_str().is_some_and(|t| t.starts_with("quill/work/"));
    let mut ended = Vec::new();
    for (method, params) in [
        ("codeAction/resolve", fix),
        (
            "workspace/executeCommand",
            json!({"command": explain["command"], "arguments": explain["arguments"]}),
        ),
    ] {
        let id = c.start(method, params).await;
        let begin = c
            .wait_notification("$/progress", |p| {
                work(&p["token"]) && p["value"]["kind"] == "begin"
            })
            .await;
        let token = begin["params"]["token"].clone();
        c.notify("$/cancelRequest", json!({"id": id})).await;
        let err = c.response(id).await.unwrap_err();
        assert_eq!(err["code"], -32800, "{method}: {err}");
        c.wait_notification("$/progress", |p| {
            p["token"] == token && p["value"]["kind"] == "end"
        })
        .await;
        ended.push(token);
    }
    assert_ne!(ended[0], ended[1]);
    // The server goes on: a request after the cancellations is answered.
    c.request("quill/status", Value::Null).await.unwrap();
    let open: Vec<&Value> = c
        .notifications
        .iter()
        .filter(|n| {
            n["method"] == "$/progress"
                && work(&n["params"]["token"])
                && n["params"]["value"]["kind"] == "begin"
        })
        .collect();
    assert!(open.is_empty(), "begun after the test's own: {open:?}");
    c.shutdown().await;
}

/// The document changes while the model reviews: the finding is placed in the text the
/// model saw and lands on the line it moved to; a finding whose function changed meanwhile
/// is never published.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_review_finishing_after_edits_lands_on_the_moved_line_or_nowhere() {
    let (mut c, _, _) = start_ready(Arc::new(chat_model), 50, inline_caps()).await;
    let uri = "file:///w/stats.py";
    c.open(uri, "python", PY).await;
    let review = json!({"command": "quill.review", "arguments": [
        {"action": "review", "uri": uri,
         "range": {"start": {"line": 7, "character": 0}, "end": {"line": 7, "character": 0}}}]});
    let is_work = |p: &Value| {
        p["token"]
            .as_str()
            .is_some_and(|t| t.starts_with("quill/work/"))
            && p["value"]["kind"] == "begin"
    };
    // Two lines above the function arrive while the model works.
    let id = c.start("workspace/executeCommand", review.clone()).await;
    c.wait_notification("$/progress", is_work).await;
    did_change(&mut c, uri, 2, (0, 0), (0, 0), "import os\nimport re\n").await;
    assert_eq!(c.response(id).await.unwrap()["findings"], 1);
    let d = c
        .wait_notification("textDocument/publishDiagnostics", |p| {
            p["version"] == 2 && !p["diagnostics"].as_array().unwrap().is_empty()
        })
        .await;
    // The `for` line: 0-based 6 when reviewed, 8 now, from its first non-blank column.
    let range = &d["params"]["diagnostics"][0]["range"];
    assert_eq!(range["start"], json!({"line": 8, "character": 8}));
    assert_eq!(range["end"], json!({"line": 8, "character": 35}));

    // The function itself changes while another review runs: nothing is published for it.
    c.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    )
    .await;
    c.open(uri, "python", PY).await;
    c.notifications.clear();
    let id = c.start("workspace/executeCommand", review).await;
    c.wait_notification("$/progress", is_work).await;
    did_change(&mut c, uri, 2, (6, 23), (6, 24), "0").await;
    c.response(id).await.unwrap();
    c.request("quill/status", Value::Null).await.unwrap();
    let published: Vec<&Value> = c
        .notifications
        .iter()
        .filter(|n| n["method"] == "textDocument/publishDiagnostics" && n["params"]["version"] == 2)
        .flat_map(|n| n["params"]["diagnostics"].as_array().unwrap())
        .collect();
    assert!(published.is_empty(), "{published:?}");
    c.shutdown().await;
}
