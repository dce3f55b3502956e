//! Next-edit suggestions over LSP, with the fake engine (no model is involved): an edit that
//! renames a name is recorded from `didChange`, `quill/nextEdit` proposes the next place, the
//! same proposal is pushed once typing pauses, accepting it leads to the next one, and
//! `nextEdits: false` stops the pushes.

use serde_json::{Value, json};

use crate::lsp::{Fake, inline_caps, ready, start};
use crate::lsp_client::LspClient;

const URI: &str = "file:///w/stats.py";
const SRC: &str =
    "def mean(count, xs):\n    if count == 0:\n        return 0\n    return sum(xs) / count\n";

/// Sends each text in turn as the document's next version (whole-text changes, as some
/// clients send them); returns the last version.
async fn type_texts(c: &mut LspClient, texts: &[String]) -> i32 {
    let mut version = 1;
    for t in texts {
        version += 1;
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"text": t}]}),
        )
        .await;
    }
    version
}

/// `count` at its definition retyped as `n`, then `total`, letter by letter.
fn renaming() -> Vec<String> {
    let at = SRC.find("count").unwrap();
    let mut texts = vec![format!("{}{}", &SRC[..at], &SRC[at + 5..])];
    for i in 1..="total".len() {
        texts.push(format!("{}{}{}", &SRC[..at], &"total"[..i], &SRC[at + 5..]));
    }
    texts
}

/// A server on the fake engine (answering `answer`) with `settings`, and the document `URI`
/// open with `src`.
async fn server(answer: &'static str, settings: Value, src: &str) -> (LspClient, Fake) {
    let fake = Fake::default();
    let (mut c, _) = start(fake.factory(answer, 0, 0), inline_caps(), settings).await;
    ready(&mut c).await;
    c.open(URI, "python", src).await;
    (c, fake)
}

async fn next_edit(c: &mut LspClient) -> Value {
    c.request("quill/nextEdit", json!({"textDocument": {"uri": URI}}))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_proposes_each_next_use_in_turn() {
    let (mut c, _) = server("x\n", json!({"warmup": false}), SRC).await;
    assert_eq!(next_edit(&mut c).await, Value::Null, "no edit yet");
    let texts = renaming();
    let version = type_texts(&mut c, &texts).await;
    let pushed = c
        .wait_notification("quill/nextEdit", |p| p["version"] == version)
        .await;
    let asked = next_edit(&mut c).await;
    assert_eq!(pushed["params"], asked);
    assert_eq!(asked["kind"], "rename");
    assert_eq!(asked["newText"], "total");
    assert_eq!(asked["remaining"], 1);
    assert_eq!(asked["label"], "rename count → total (1 more)");
    assert_eq!(
        asked["range"],
        json!({"start": {"line": 1, "character": 7}, "end": {"line": 1, "character": 12}})
    );
    // Accept it (the client applies the range), then the last one.
    let version = version + 1;
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": version}, "contentChanges": [{
            "range": asked["range"], "text": "total"}]}),
    )
    .await;
    let second = next_edit(&mut c).await;
    assert_eq!(second["remaining"], 0, "{second}");
    assert_eq!(second["range"]["start"]["line"], 3);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": version + 1}, "contentChanges": [{
            "range": second["range"], "text": "total"}]}),
    )
    .await;
    assert_eq!(next_edit(&mut c).await, Value::Null, "every place renamed");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_edits_off_pushes_nothing_but_the_request_answers() {
    let (mut c, _) = server("x\n", json!({"warmup": false, "nextEdits": false}), SRC).await;
    let _ = type_texts(&mut c, &renaming()).await;
    // The request answers; the notification would have come before this status reply had
    // it been sent 300 ms after the last edit.
    assert_eq!(next_edit(&mut c).await["newText"], "total");
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let status = c.request("quill/status", Value::Null).await.unwrap();
    assert!(
        status["settingKeys"]
            .as_array()
            .unwrap()
            .contains(&json!("nextEdits"))
    );
    assert!(
        !c.notifications
            .iter()
            .any(|n| n["method"] == "quill/nextEdit"),
        "a push with nextEdits off"
    );
    c.shutdown().await;
}

/// A parameter added at a definition: the server asks the model (here the fake) for the
/// argument at the next call and proposes inserting it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_parameter_proposes_the_argument_the_model_writes() {
    let src = "def area(w, h):\n    return w * h\n\n\nprint(area(2, 3))\n";
    let (mut c, fake) = server(", 2", json!({"warmup": false}), src).await;
    let at = src.find("h)").unwrap() + 1;
    let texts: Vec<String> = (1..=", scale".len())
        .map(|i| format!("{}{}{}", &src[..at], &", scale"[..i], &src[at..]))
        .collect();
    let version = type_texts(&mut c, &texts).await;
    let pushed = c
        .wait_notification("quill/nextEdit", |p| p["version"] == version)
        .await;
    let p = &pushed["params"];
    assert_eq!(p["kind"], "argument", "{p}");
    assert_eq!(p["newText"], ", 2");
    assert_eq!(
        p["range"],
        json!({"start": {"line": 4, "character": 15}, "end": {"line": 4, "character": 15}})
    );
    // Laid out as the ghost text's prompt at the edit: the file from its top, on to the
    // call, the code after the call as the suffix.
    assert!(
        fake.last_prompt().contains(
            "def area(w, h, scale):\n    return w * h\n\n\nprint(area(2, 3<|fim_suffix|>))\n"
        ),
        "{}",
        fake.last_prompt()
    );
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_did_change_at_two_places_is_two_edits() {
    // Editors batch the changes of a short while in one `didChange`: a comment typed at the
    // top and a parameter added below must not read as one edit spanning both.
    let src = "class P:\n    def __init__(self, name, age):\n        self.name = name\n        self.age = age\n\n\np = P(\"a\", 3)\n";
    let (mut c, _) = server("x\n", json!({"warmup": false}), src).await;
    let at = |line: u32, character: u32| json!({"line": line, "character": character});
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": at(0, 8), "end": at(0, 8)}, "text": "  # a person"},
            {"range": {"start": at(1, 32), "end": at(1, 32)}, "text": ", e"},
            {"range": {"start": at(1, 35), "end": at(1, 35)}, "text": "mail"},
        ]}),
    )
    .await;
    let p = next_edit(&mut c).await;
    assert_eq!(p["kind"], "field", "{p}");
    assert_eq!(p["newText"], "        self.email = email\n", "{p}");
    assert_eq!(p["range"]["start"], at(4, 0), "{p}");
    c.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_formatter_s_many_changes_are_one_edit_and_the_server_keeps_serving() {
    // More content changes than the history replays one by one (a formatter's): recorded
    // as one edit, after which the document is still right and a rename still proposes.
    let src = format!("{SRC}{}", "x = 1\n".repeat(100));
    let (mut c, _) = server("x\n", json!({"warmup": false}), &src).await;
    let at = |line: u32, character: u32| json!({"line": line, "character": character});
    // `x = 1` → `x = 2` on each of the 100 lines: 100 changes in one notification.
    let changes: Vec<Value> = (0..100)
        .map(|i| json!({"range": {"start": at(4 + i, 4), "end": at(4 + i, 5)}, "text": "2"}))
        .collect();
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 2}, "contentChanges": changes}),
    )
    .await;
    assert_eq!(
        next_edit(&mut c).await,
        Value::Null,
        "a formatting is no rename"
    );
    // Then a rename at the definition proposes its next use.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": URI, "version": 3}, "contentChanges": [
            {"range": {"start": at(0, 9), "end": at(0, 14)}, "text": "total"}]}),
    )
    .await;
    let p = next_edit(&mut c).await;
    assert_eq!(p["kind"], "rename", "{p}");
    assert_eq!(p["range"]["start"], at(1, 7), "{p}");
    c.shutdown().await;
}
