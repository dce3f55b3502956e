//! Bug hints as diagnostics: review results per function, published with source `quill`
//! on the lines they concern, cached by the function's text and dropped when it changes.

use dashmap::DashMap;
use tower_lsp_server::ls_types::{Diagnostic, DiagnosticSeverity, NumberOrString, Uri};

use super::documents::Snapshot;
use super::position;
use crate::assist::Finding;
use crate::text::Encoding;

/// The review of one function.
#[derive(Debug, Clone)]
struct Review {
    /// The function's text when it was reviewed: the cache key, and how it is found again
    /// after edits above it move it.
    code: String,
    /// Findings with lines relative to the function's first line.
    findings: Vec<(usize, String)>,
}

#[derive(Debug, Default)]
pub struct Reviews(DashMap<Uri, Vec<Review>>);

impl Reviews {
    /// Cached findings for `code` in `uri`, as file lines relative to the code's start.
    pub fn cached(&self, uri: &Uri, code: &str) -> Option<Vec<(usize, String)>> {
        self.0
            .get(uri)?
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.findings.clone())
    }

    /// Stores the findings for `code`, whose first line is `first_line` (1-based).
    pub fn store(&self, uri: &Uri, code: &str, first_line: usize, findings: &[Finding]) {
        let review = Review {
            code: code.to_string(),
            findings: findings
                .iter()
                .map(|f| (f.line.saturating_sub(first_line), f.message.clone()))
                .collect(),
        };
        let mut list = self.0.entry(uri.clone()).or_default();
        list.retain(|r| r.code != code);
        list.push(review);
    }

    pub fn has(&self, uri: &Uri) -> bool {
        self.0.get(uri).is_some_and(|l| !l.is_empty())
    }

    pub fn forget(&self, uri: &Uri) {
        self.0.remove(uri);
    }

    /// The diagnostics for the document as it is now. Reviews of functions whose text is
    /// no longer in the document are dropped.
    pub fn diagnostics(&self, snap: &Snapshot, enc: Encoding) -> Vec<Diagnostic> {
        let Some(mut list) = self.0.get_mut(&snap.uri) else {
            return Vec::new();
        };
        let text = snap.text.as_str();
        list.retain(|r| text.contains(&r.code));
        let mut out = Vec::new();
        for r in list.iter() {
            let Some(at) = text.find(&r.code) else {
                continue;
            };
            let base = text[..at].matches('\n').count();
            for (rel, message) in &r.findings {
                let line = base + rel;
                let Some(content) = snap.index.line(text, line) else {
                    continue;
                };
                let line_start = at
                    + r.code
                        .split_inclusive('\n')
                        .take(*rel)
                        .map(str::len)
                        .sum::<usize>();
                let indent = content.len() - content.trim_start().len();
                let start = line_start + indent;
                let end = line_start + content.trim_end().len();
                out.push(Diagnostic {
                    range: position::range(text, &snap.index, start, end.max(start), enc),
                    severity: Some(DiagnosticSeverity::INFORMATION),
                    code: Some(NumberOrString::String("review".into())),
                    source: Some("quill".into()),
                    message: message.clone(),
                    ..Diagnostic::default()
                });
            }
        }
        out
    }
}
