//! Hugging Face: `hf:OWNER/REPO/FILE.gguf[@REVISION]` names, and downloads from
//! `{endpoint}/{repo}/resolve/{revision}/{file}`.
//!
//! The endpoint and the token come from the environment as `huggingface_hub` reads them:
//! `HF_ENDPOINT` (default <https://huggingface.co>, e.g. a mirror, or a local server in
//! tests) and `HF_TOKEN` (sent as a bearer token, for gated and private repositories). The
//! token is never printed, and never sent over plain HTTP except to this machine.

use std::fmt;
use std::io::Read;
use std::time::Duration;

use anyhow::{Result, bail};

use super::Origin;

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// How long a network read may wait before the download fails as stalled.
pub(crate) const NETWORK_STALL: Duration = Duration::from_secs(60);

/// A GGUF file in a Hugging Face repository: `hf:OWNER/REPO/PATH.gguf[@REVISION]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfSpec {
    /// `OWNER/REPO`.
    pub repo: String,
    /// The file's path in the repository (may hold folders).
    pub path: String,
    /// A branch, tag or commit; `main` when none is given.
    pub revision: String,
}

impl HfSpec {
    /// Whether `s` is meant as an `hf:` name (and should be parsed as one).
    pub fn is_spec(s: &str) -> bool {
        s.starts_with("hf:")
    }

    pub fn parse(s: &str) -> Result<HfSpec> {
        let usage = "expected hf:OWNER/REPO/FILE.gguf or hf:OWNER/REPO/FILE.gguf@REVISION";
        let Some(rest) = s.strip_prefix("hf:") else {
            bail!("{s:?} is not an hf: name: {usage}");
        };
        // A revision follows the last '@' after the file name (revisions may hold '/').
        let (path, revision) = if super::has_gguf_suffix(rest) {
            (rest, "main")
        } else {
            match rest.rsplit_once('@') {
                Some((p, r)) if super::has_gguf_suffix(p) => (p, r),
                _ => bail!("{s:?}: the file must be a .gguf file: {usage}"),
            }
        };
        let mut parts = path.splitn(3, '/');
        let (Some(owner), Some(name), Some(file)) = (parts.next(), parts.next(), parts.next())
        else {
            bail!("{s:?}: {usage}");
        };
        for part in [owner, name] {
            check_repo_part(part).map_err(|e| anyhow::anyhow!("{s:?}: {e}"))?;
        }
        for seg in file.split('/') {
            if seg.is_empty() || seg == "." || seg == ".." || seg.contains('\\') {
                bail!("{s:?}: the file path {file:?} has an empty, '.', '..' or '\\' part");
            }
            if seg.chars().any(|c| c.is_control()) {
                bail!("{s:?}: the file path has a control character");
            }
        }
        check_revision(revision).map_err(|e| anyhow::anyhow!("{s:?}: {e}"))?;
        Ok(HfSpec {
            repo: format!("{owner}/{name}"),
            path: file.to_string(),
            revision: revision.to_string(),
        })
    }

    /// The file's own name (the last part of its path).
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The model name a pull gives it: the file name without `.gguf`, lowercased, every
    /// character a model name cannot hold replaced by `-`.
    pub fn default_name(&self) -> String {
        let file = self.file_name();
        let stem = &file[..file.len() - ".gguf".len()];
        let name: String = stem
            .chars()
            .map(|c| {
                let c = c.to_ascii_lowercase();
                if c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c) {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        name.trim_start_matches(['.', '_', '-']).to_string()
    }

    /// A manifest source for this file.
    pub fn origin(&self) -> Origin {
        Origin::Huggingface {
            repo: self.repo.clone(),
            revision: self.revision.clone(),
            path: self.path.clone(),
        }
    }

    /// Whether `origin` names this same file (repository names are case-insensitive on
    /// the Hub; paths and revisions are not).
    pub fn is_origin(&self, origin: &Origin) -> bool {
        match origin {
            Origin::Huggingface {
                repo,
                revision,
                path,
            } => {
                repo.eq_ignore_ascii_case(&self.repo)
                    && *path == self.path
                    && *revision == self.revision
            }
            Origin::Pypi { .. } => false,
        }
    }

    /// Whether the file's name says it is one part of a split GGUF
    /// (`NAME-00001-of-00003.gguf`): quill loads single files only.
    pub fn split_part(&self) -> Option<(u32, u32)> {
        let file = self.file_name();
        let stem = &file[..file.len() - ".gguf".len()];
        let (rest, total) = stem.rsplit_once("-of-")?;
        let (_, part) = rest.rsplit_once('-')?;
        let digits = |s: &str| s.len() == 5 && s.chars().all(|c| c.is_ascii_digit());
        if !digits(part) || !digits(total) {
            return None;
        }
        Some((part.parse().ok()?, total.parse().ok()?))
    }
}

impl fmt::Display for HfSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hf:{}/{}", self.repo, self.path)?;
        if self.revision != "main" {
            write!(f, "@{}", self.revision)?;
        }
        Ok(())
    }
}

/// An owner or repository name as the Hub allows them: letters, digits, `-`, `_`, `.`;
/// no `--` or `..`; not starting or ending with `-` or `.`; at most 96 characters.
fn check_repo_part(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 96
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !s.contains("--")
        && !s.contains("..")
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.']);
    if !ok {
        bail!("{s:?} is not a Hugging Face owner or repository name");
    }
    Ok(())
}

fn check_revision(s: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 255
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !s.contains("..")
        && !s.split('/').any(|p| p.is_empty() || p == "." || p == "..");
    if !ok {
        bail!("{s:?} is not a revision (a branch, tag or commit)");
    }
    Ok(())
}

/// Percent-encodes everything but unreserved characters (and `/` when `keep_slash`).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where files are downloaded from, and the token to send.
#[derive(Clone)]
pub struct Hub {
    endpoint: String,
    token: Option<String>,
}

impl fmt::Debug for Hub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hub")
            .field("endpoint", &self.endpoint)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// A response being downloaded.
pub struct Download {
    pub reader: Box<dyn Read + Send>,
    /// The length the server announced (`Content-Length`), if any.
    pub len: Option<u64>,
    pub url: String,
}

impl Hub {
    /// `HF_ENDPOINT` (or the public Hub) and `HF_TOKEN`.
    pub fn from_env() -> Hub {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Hub::new(
            var("HF_ENDPOINT").as_deref().unwrap_or(DEFAULT_ENDPOINT),
            var("HF_TOKEN"),
        )
    }

    pub fn new(endpoint: &str, token: Option<String>) -> Hub {
        Hub {
            endpoint: endpoint.trim().trim_end_matches('/').to_string(),
            token: token.map(|t| t.trim().to_string()),
        }
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The download address of `path` in `repo` at `revision`.
    pub fn url(&self, repo: &str, revision: &str, path: &str) -> String {
        format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint,
            encode(repo, true),
            encode(revision, false),
            encode(path, true)
        )
    }

    /// Whether the token may go to the endpoint: over HTTPS, or to this machine.
    fn token_allowed(&self) -> bool {
        let e = self.endpoint.to_ascii_lowercase();
        if e.starts_with("https://") {
            return true;
        }
        let host = e
            .strip_prefix("http://")
            .unwrap_or(&e)
            .split('/')
            .next()
            .unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    }

    /// Starts downloading `path` from `repo` at `revision`. Redirects are followed; the
    /// token only to the same host.
    pub fn get(&self, repo: &str, revision: &str, path: &str) -> Result<Download> {
        let url = self.url(repo, revision, path);
        let mut req = ureq::get(&url)
            .config()
            // A stalled connection fails instead of hanging (each read, not the whole
            // download, which takes as long as it takes).
            .timeout_connect(Some(NETWORK_STALL))
            .timeout_per_read(Some(NETWORK_STALL))
            // The token follows a redirect to the same host (a renamed repository), not
            // to another (the CDN the Hub sends large files to, with a signed address).
            .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
            .build()
            // The bytes as stored: `Content-Length` is then the file's size.
            .header("Accept-Encoding", "identity");
        let sent_token = match &self.token {
            Some(t) if self.token_allowed() => {
                req = req.header("Authorization", format!("Bearer {t}"));
                true
            }
            Some(_) => {
                eprintln!(
                    "warning: HF_TOKEN is not sent to {} (plain HTTP to another machine)",
                    self.endpoint
                );
                false
            }
            None => false,
        };
        let resp = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::StatusCode(code)) => {
                let why = match code {
                    401 | 403 if sent_token => format!(
                        "{repo} does not exist, or is gated or private and HF_TOKEN gives no \
                         access to it"
                    ),
                    401 | 403 => format!(
                        "{repo} does not exist, or is gated or private: set HF_TOKEN to a \
                         token that can read it"
                    ),
                    404 => format!(
                        "no file {path} in {repo} at revision {revision} (names are \
                         case-sensitive)"
                    ),
                    _ => "the server refused".to_string(),
                };
                bail!("GET {url}: HTTP {code}: {why}");
            }
            Err(e) => bail!("GET {url}: {e}"),
        };
        let body = resp.into_body();
        let len = body.content_length();
        Ok(Download {
            reader: Box::new(body.into_reader()),
            len,
            url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_names_parse() {
        let s = HfSpec::parse(
            "hf:Qwen/Qwen2.5-Coder-3B-Instruct-GGUF/qwen2.5-coder-3b-instruct-q4_k_m.gguf",
        )
        .unwrap();
        assert_eq!(s.repo, "Qwen/Qwen2.5-Coder-3B-Instruct-GGUF");
        assert_eq!(s.path, "qwen2.5-coder-3b-instruct-q4_k_m.gguf");
        assert_eq!(s.revision, "main");
        assert_eq!(s.default_name(), "qwen2.5-coder-3b-instruct-q4_k_m");

        let s = HfSpec::parse("hf:bartowski/Some-GGUF/sub/dir/Model Q4+K.GGUF@refs/pr/1").unwrap();
        assert_eq!(s.repo, "bartowski/Some-GGUF");
        assert_eq!(s.path, "sub/dir/Model Q4+K.GGUF");
        assert_eq!(s.revision, "refs/pr/1");
        assert_eq!(s.file_name(), "Model Q4+K.GGUF");
        assert_eq!(s.default_name(), "model-q4-k");
        assert_eq!(
            s.to_string(),
            "hf:bartowski/Some-GGUF/sub/dir/Model Q4+K.GGUF@refs/pr/1"
        );

        let commit = "f74adce6aa16316c625447af059dbebe4983757c";
        let s = HfSpec::parse(&format!("hf:a/b/c.gguf@{commit}")).unwrap();
        assert_eq!(s.revision, commit);
    }

    #[test]
    fn bad_hf_names_are_refused_with_the_form() {
        for bad in [
            "Qwen/x/y.gguf",
            "hf:",
            "hf:owner/repo",
            "hf:owner/repo/",
            "hf:owner/repo/model.bin",
            "hf:owner/repo/model.gguf@",
            "hf:owner/repo/model.gguf@a..b",
            "hf:owner//model.gguf",
            "hf:-owner/repo/model.gguf",
            "hf:own..er/repo/model.gguf",
            "hf:owner/re po/model.gguf",
            "hf:owner/repo/../model.gguf",
            "hf:owner/repo/a//model.gguf",
            "hf:owner/repo/a\\model.gguf",
        ] {
            assert!(HfSpec::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = HfSpec::parse("hf:owner/repo").unwrap_err().to_string();
        assert!(err.contains("hf:OWNER/REPO/FILE.gguf"), "{err}");
    }

    #[test]
    fn split_parts_are_recognised() {
        let s = HfSpec::parse("hf:a/b/m-q4_k_m-00001-of-00002.gguf").unwrap();
        assert_eq!(s.split_part(), Some((1, 2)));
        let s = HfSpec::parse("hf:a/b/m-q4_k_m.gguf").unwrap();
        assert_eq!(s.split_part(), None);
    }

    #[test]
    fn urls_are_encoded_like_huggingface_hub() {
        let hub = Hub::new("http://127.0.0.1:9/", None);
        assert_eq!(
            hub.url("a/b", "refs/pr/1", "dir/x y.gguf"),
            "http://127.0.0.1:9/a/b/resolve/refs%2Fpr%2F1/dir/x%20y.gguf"
        );
        assert_eq!(
            Hub::new(DEFAULT_ENDPOINT, None).url("Qwen/R", "main", "f.gguf"),
            "https://huggingface.co/Qwen/R/resolve/main/f.gguf"
        );
    }

    #[test]
    fn the_token_goes_only_where_it_is_safe_and_is_never_shown() {
        let t = || Some("hf_secret".to_string());
        assert!(Hub::new("https://hf-mirror.com", t()).token_allowed());
        assert!(Hub::new("http://127.0.0.1:8000", t()).token_allowed());
        assert!(Hub::new("http://localhost:8000/", t()).token_allowed());
        assert!(!Hub::new("http://mirror.example:80", t()).token_allowed());
        let shown = format!("{:?}", Hub::new("https://x", t()));
        assert!(!shown.contains("hf_secret"), "{shown}");
    }

    #[test]
    fn origins_match_the_same_file_only() {
        let s = HfSpec::parse("hf:qwen/R/f.gguf").unwrap();
        let o = |repo: &str, rev: &str, path: &str| Origin::Huggingface {
            repo: repo.into(),
            revision: rev.into(),
            path: path.into(),
        };
        assert!(s.is_origin(&o("Qwen/R", "main", "f.gguf")));
        assert!(!s.is_origin(&o("Qwen/R", "v1", "f.gguf")));
        assert!(!s.is_origin(&o("Qwen/R", "main", "F.gguf")));
        assert_eq!(s.origin(), o("qwen/R", "main", "f.gguf"));
    }
}
