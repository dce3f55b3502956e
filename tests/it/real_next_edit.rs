//! Next-edit suggestions with the real model: a parameter typed into a definition, ghost
//! text asked at it as an editor asks while the user types, then the argument at the call
//! proposed from the model. The argument's prompt is laid out as the ghost text's and the
//! engine picks it or the call's own short prompt by what its cache holds (both paths of
//! `Request::alternative` in llama.cpp).

use serde_json::json;

use crate::lsp_client::LspClient;
use crate::support::{SMALL, real_model};

const URI: &str = "file:///w/geometry.py";
const SRC: &str = "def area(width, height):\n    \"\"\"The area of a width by height rectangle.\"\"\"\n    return width * height\n\n\ndef report(rooms):\n    for name, (w, h) in rooms.items():\n        print(name, area(w, h))\n";

// The model lock is held for the whole test on purpose: real-model tests take turns.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_parameter_gets_its_argument_from_the_real_model() {
    let Some((_path, _guard)) = real_model(SMALL) else {
        return;
    };
    let (_child, mut c) =
        LspClient::serve_ready(json!({"model": SMALL, "warmup": false, "prefetch": false})).await;
    c.open(URI, "python", SRC).await;
    // `, scale` typed after `height`, a letter at a time, ghost text asked after each.
    let at = SRC.find("height)").unwrap() + "height".len();
    let typed = ", scale";
    let mut version = 1;
    for i in 1..=typed.len() {
        version += 1;
        let text = format!("{}{}{}", &SRC[..at], &typed[..i], &SRC[at..]);
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": URI, "version": version}, "contentChanges": [{"text": text}]}),
        )
        .await;
        let _ = c.inline(URI, 0, (at + i) as u32).await.unwrap();
    }
    let p = c
        .request("quill/nextEdit", json!({"textDocument": {"uri": URI}}))
        .await
        .unwrap();
    eprintln!("proposal {p}");
    assert_eq!(p["kind"], "argument", "{p}");
    assert_eq!(p["version"], version);
    let call = SRC.lines().position(|l| l.contains("area(w, h)")).unwrap();
    let character = SRC.lines().nth(call).unwrap().find("area(w, h)").unwrap() + "area(w, h".len();
    assert_eq!(
        p["range"],
        json!({"start": {"line": call, "character": character}, "end": {"line": call, "character": character}})
    );
    let text = p["newText"].as_str().unwrap();
    assert!(text.starts_with(", ") && text.len() > 2, "{text:?}");
    assert!(!text.contains(['\n', ')']), "one argument: {text:?}");
    c.shutdown().await;
}
