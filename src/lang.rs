//! The languages quill knows: detection from a path or an LSP language id, their
//! tree-sitter grammars, and the queries under `grammars/<language>/`.
//!
//! Other files are still completed (plain fill-in-the-middle) but get no syntax checks and
//! no tree-sitter context.

use std::path::Path;
use std::sync::OnceLock;

use tree_sitter::Query;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    Python,
    Rust,
    JavaScript,
    TypeScript,
    Tsx,
    Go,
}

/// The kinds of query each language ships under `grammars/<dir>/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `@scope`: functions, methods, classes, impls: the units completions are checked in,
    /// explanations are about, and context is built around.
    Scopes,
    /// `@definition.<kind>` with its `@name`: what other files can refer to.
    Definitions,
    /// `@import`: import statements, kept when the prefix is cut.
    Imports,
}

impl QueryKind {
    pub const ALL: [QueryKind; 3] = [
        QueryKind::Scopes,
        QueryKind::Definitions,
        QueryKind::Imports,
    ];

    pub fn file_name(self) -> &'static str {
        match self {
            QueryKind::Scopes => "scopes.scm",
            QueryKind::Definitions => "definitions.scm",
            QueryKind::Imports => "imports.scm",
        }
    }
}

impl Language {
    pub const ALL: [Language; 6] = [
        Language::Python,
        Language::Rust,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
    ];

    /// From a file name's extension.
    pub fn from_path(path: &Path) -> Option<Language> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "py" | "pyi" | "pyw" => Language::Python,
            "rs" => Language::Rust,
            "js" | "mjs" | "cjs" | "jsx" => Language::JavaScript,
            "ts" | "mts" | "cts" => Language::TypeScript,
            "tsx" => Language::Tsx,
            "go" => Language::Go,
            _ => return None,
        })
    }

    /// From an LSP `languageId` or a user-given name (`--language`, batch `"language"`).
    pub fn from_name(name: &str) -> Option<Language> {
        Some(match name.to_ascii_lowercase().as_str() {
            "python" | "py" => Language::Python,
            "rust" | "rs" => Language::Rust,
            "javascript" | "js" | "javascriptreact" | "jsx" => Language::JavaScript,
            "typescript" | "ts" => Language::TypeScript,
            "typescriptreact" | "tsx" => Language::Tsx,
            "go" | "golang" => Language::Go,
            _ => return None,
        })
    }

    /// The name used in settings and messages.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Rust => "rust",
            Language::JavaScript => "javascript",
            Language::TypeScript => "typescript",
            Language::Tsx => "typescriptreact",
            Language::Go => "go",
        }
    }

    /// The folder under `grammars/` holding this language's queries.
    pub fn grammar_dir(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Rust => "rust",
            Language::JavaScript => "javascript",
            Language::TypeScript | Language::Tsx => "typescript",
            Language::Go => "go",
        }
    }

    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
        }
    }

    /// The line-comment leader, for hole markers and generated comments.
    pub fn line_comment(self) -> &'static str {
        match self {
            Language::Python => "#",
            _ => "//",
        }
    }

    /// True when `line` (trimmed of trailing space) opens a block whose body follows on the
    /// next lines.
    pub fn opens_block(self, line: &str) -> bool {
        let t = line.trim_end();
        if t.trim_start().starts_with(self.line_comment()) {
            return false;
        }
        let bracket = t.ends_with(['{', '(', '[']);
        match self {
            Language::Python => bracket || t.ends_with(':'),
            _ => bracket || t.ends_with("=>"),
        }
    }

    /// The query source of `kind`, embedded from `grammars/`.
    pub fn query_source(self, kind: QueryKind) -> &'static str {
        match (self.grammar_dir(), kind) {
            ("python", QueryKind::Scopes) => include_str!("../grammars/python/scopes.scm"),
            ("python", QueryKind::Definitions) => {
                include_str!("../grammars/python/definitions.scm")
            }
            ("python", QueryKind::Imports) => include_str!("../grammars/python/imports.scm"),
            ("rust", QueryKind::Scopes) => include_str!("../grammars/rust/scopes.scm"),
            ("rust", QueryKind::Definitions) => include_str!("../grammars/rust/definitions.scm"),
            ("rust", QueryKind::Imports) => include_str!("../grammars/rust/imports.scm"),
            ("javascript", QueryKind::Scopes) => include_str!("../grammars/javascript/scopes.scm"),
            ("javascript", QueryKind::Definitions) => {
                include_str!("../grammars/javascript/definitions.scm")
            }
            ("javascript", QueryKind::Imports) => {
                include_str!("../grammars/javascript/imports.scm")
            }
            ("typescript", QueryKind::Scopes) => include_str!("../grammars/typescript/scopes.scm"),
            ("typescript", QueryKind::Definitions) => {
                include_str!("../grammars/typescript/definitions.scm")
            }
            ("typescript", QueryKind::Imports) => {
                include_str!("../grammars/typescript/imports.scm")
            }
            ("go", QueryKind::Scopes) => include_str!("../grammars/go/scopes.scm"),
            ("go", QueryKind::Definitions) => include_str!("../grammars/go/definitions.scm"),
            ("go", QueryKind::Imports) => include_str!("../grammars/go/imports.scm"),
            _ => unreachable!("every language has every query"),
        }
    }

    /// The compiled query of `kind`, compiled once per process.
    pub fn query(self, kind: QueryKind) -> &'static Query {
        static CACHE: OnceLock<Vec<Query>> = OnceLock::new();
        let all = CACHE.get_or_init(|| {
            Language::ALL
                .iter()
                .flat_map(|l| QueryKind::ALL.iter().map(move |k| (*l, *k)))
                .map(|(l, k)| {
                    Query::new(&l.grammar(), l.query_source(k)).unwrap_or_else(|e| {
                        panic!("grammars/{}/{}: {e}", l.grammar_dir(), k.file_name())
                    })
                })
                .collect()
        });
        let li = Language::ALL
            .iter()
            .position(|l| *l == self)
            .expect("in ALL");
        let ki = QueryKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("in ALL");
        &all[li * QueryKind::ALL.len() + ki]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every query under `grammars/` compiles against its grammar (helix's query-check).
    #[test]
    fn every_query_compiles() {
        for lang in Language::ALL {
            for kind in QueryKind::ALL {
                Query::new(&lang.grammar(), lang.query_source(kind)).unwrap_or_else(|e| {
                    panic!("grammars/{}/{}: {e}", lang.grammar_dir(), kind.file_name())
                });
            }
        }
    }

    #[test]
    fn detects_by_extension_and_id() {
        assert_eq!(
            Language::from_path(Path::new("a/b.py")),
            Some(Language::Python)
        );
        assert_eq!(Language::from_path(Path::new("x.TSX")), Some(Language::Tsx));
        assert_eq!(Language::from_path(Path::new("README.md")), None);
        assert_eq!(Language::from_name("typescriptreact"), Some(Language::Tsx));
        assert_eq!(Language::from_name("cobol"), None);
    }

    #[test]
    fn block_openers() {
        assert!(Language::Python.opens_block("    def f(x):"));
        assert!(Language::Python.opens_block("    x = {"));
        assert!(!Language::Python.opens_block("    # note:"));
        assert!(Language::Rust.opens_block("fn main() {"));
        assert!(!Language::Go.opens_block("x := 1"));
    }
}
