//! The languages quill knows: detection from a path, a shebang or an LSP language id, their
//! tree-sitter grammars, the queries under `grammars/<language>/`, and the few facts the
//! rules need (comment syntax, how blocks are delimited, which files see each other).
//!
//! Every per-language fact lives in one table row ([`Spec`]), as helix's `languages.toml`
//! does; code asks the row, never matches on a language for a fact the row can hold.
//! Other files are still completed (plain fill-in-the-middle) but get no syntax checks and
//! no tree-sitter context.
//!
//! Longer than the ~700 lines a file here keeps to, on purpose: half of it is the table,
//! one row per language, which reads best whole (as helix's `languages.toml`).

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
    C,
    Cpp,
    Java,
    CSharp,
    Kotlin,
    Php,
    Ruby,
    Bash,
    Lua,
    Scala,
    Swift,
    Json,
    Yaml,
    Toml,
    Html,
    Css,
}

/// How a language delimits blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocks {
    /// `{ … }`: C, Java, JavaScript, Rust, Go, …
    Braces,
    /// Indentation after a `:` line (Python).
    Indentation,
    /// A keyword line ends them: `end` (Ruby, Lua), `fi`/`done`/`esac` (shell).
    Keywords(&'static [&'static str]),
    /// Data and markup: no statements, no blocks to write.
    Data,
}

/// What quill knows of one language.
#[derive(Debug)]
pub struct Spec {
    /// The name used in settings, messages and batch tasks (VS Code's language id).
    pub name: &'static str,
    /// How people write it ("C++").
    pub display: &'static str,
    /// The Markdown fence tag.
    pub fence: &'static str,
    /// Other names editors and users give it: LSP language ids, Neovim filetypes, aliases.
    pub aliases: &'static [&'static str],
    /// File extensions (lower case, no dot).
    pub extensions: &'static [&'static str],
    /// Whole file names that say the language without an extension (`.bashrc`, `Rakefile`).
    pub file_names: &'static [&'static str],
    /// Interpreters a `#!` line names.
    pub interpreters: &'static [&'static str],
    /// The folder under `grammars/` with its queries.
    pub grammar_dir: &'static str,
    /// Line-comment leaders; the first writes hole markers and generated comments.
    pub line_comments: &'static [&'static str],
    pub block_comment: Option<(&'static str, &'static str)>,
    pub blocks: Blocks,
    /// Files of one family are context for each other (JavaScript and TypeScript, C and
    /// C++); never across families: code of another language leads the model into it.
    pub family: &'static str,
    /// The files of a folder (package, namespace, module) see each other's top-level
    /// names without an import naming the file (Go, Rust, Java, C#, …).
    pub folder_shares_names: bool,
    /// How a function's documentation is written, for "add a doc comment".
    pub doc_style: &'static str,
}

const C_COMMENTS: Option<(&str, &str)> = Some(("/*", "*/"));
const JSDOC: &str = "a JSDoc `/** ... */` comment";

/// Rows in the order of [`Language::ALL`].
static SPECS: [Spec; 22] = [
    Spec {
        name: "python",
        display: "Python",
        fence: "python",
        aliases: &["py", "python3"],
        extensions: &["py", "pyi", "pyw"],
        file_names: &[],
        interpreters: &["python", "pypy"],
        grammar_dir: "python",
        line_comments: &["#"],
        block_comment: None,
        blocks: Blocks::Indentation,
        family: "python",
        folder_shares_names: false,
        doc_style: "a docstring",
    },
    Spec {
        name: "rust",
        display: "Rust",
        fence: "rust",
        aliases: &["rs"],
        extensions: &["rs"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "rust",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "rust",
        // `use super::*` and crate paths are too varied to tell.
        folder_shares_names: true,
        doc_style: "a `///` doc comment",
    },
    Spec {
        name: "javascript",
        display: "JavaScript",
        fence: "javascript",
        aliases: &["js", "javascriptreact", "jsx", "node"],
        extensions: &["js", "mjs", "cjs", "jsx"],
        file_names: &[],
        interpreters: &["node", "nodejs", "deno", "bun"],
        grammar_dir: "javascript",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "javascript",
        folder_shares_names: false,
        doc_style: JSDOC,
    },
    Spec {
        name: "typescript",
        display: "TypeScript",
        fence: "typescript",
        aliases: &["ts"],
        extensions: &["ts", "mts", "cts"],
        file_names: &[],
        interpreters: &["ts-node", "tsx"],
        grammar_dir: "typescript",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "javascript",
        folder_shares_names: false,
        doc_style: JSDOC,
    },
    Spec {
        name: "typescriptreact",
        display: "TypeScript",
        fence: "tsx",
        aliases: &["tsx"],
        extensions: &["tsx"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "typescript",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "javascript",
        folder_shares_names: false,
        doc_style: JSDOC,
    },
    Spec {
        name: "go",
        display: "Go",
        fence: "go",
        aliases: &["golang"],
        extensions: &["go"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "go",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "go",
        folder_shares_names: true,
        doc_style: "a `//` doc comment starting with the function's name",
    },
    Spec {
        name: "c",
        display: "C",
        fence: "c",
        aliases: &[],
        // `.h` is C++'s (below), as VS Code and Neovim take it: the C++ grammar reads C.
        extensions: &["c"],
        file_names: &[],
        interpreters: &["tcc"],
        grammar_dir: "c",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "c",
        folder_shares_names: false,
        doc_style: "a `/** ... */` comment",
    },
    Spec {
        name: "cpp",
        display: "C++",
        fence: "cpp",
        // Not CUDA or Objective-C++: their syntax is errors to this grammar, and the check
        // would refuse answers written in it.
        aliases: &["c++", "cxx", "hpp"],
        extensions: &[
            "cpp", "cc", "cxx", "c++", "h", "hpp", "hh", "hxx", "h++", "ipp", "tpp", "inl",
        ],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "cpp",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "c",
        folder_shares_names: false,
        doc_style: "a `///` doc comment",
    },
    Spec {
        name: "java",
        display: "Java",
        fence: "java",
        aliases: &[],
        extensions: &["java"],
        file_names: &[],
        interpreters: &["java"],
        grammar_dir: "java",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "java",
        folder_shares_names: true,
        doc_style: "a Javadoc `/** ... */` comment",
    },
    Spec {
        name: "csharp",
        display: "C#",
        fence: "csharp",
        aliases: &["cs", "c#", "c-sharp"],
        extensions: &["cs", "csx"],
        file_names: &[],
        interpreters: &["dotnet-script"],
        grammar_dir: "csharp",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "csharp",
        folder_shares_names: true,
        doc_style: "a `///` XML doc comment",
    },
    Spec {
        name: "kotlin",
        display: "Kotlin",
        fence: "kotlin",
        aliases: &["kt", "kts"],
        extensions: &["kt", "kts"],
        file_names: &[],
        interpreters: &["kotlin"],
        grammar_dir: "kotlin",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "kotlin",
        folder_shares_names: true,
        doc_style: "a KDoc `/** ... */` comment",
    },
    Spec {
        name: "php",
        display: "PHP",
        fence: "php",
        aliases: &[],
        extensions: &["php", "phtml", "php8", "inc"],
        file_names: &[],
        interpreters: &["php"],
        grammar_dir: "php",
        line_comments: &["//", "#"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "php",
        folder_shares_names: false,
        doc_style: "a PHPDoc `/** ... */` comment",
    },
    Spec {
        name: "ruby",
        display: "Ruby",
        fence: "ruby",
        aliases: &["rb"],
        extensions: &["rb", "rake", "gemspec", "ru"],
        file_names: &["Rakefile", "Gemfile", "Guardfile", "Vagrantfile"],
        interpreters: &["ruby", "jruby"],
        grammar_dir: "ruby",
        line_comments: &["#"],
        block_comment: None,
        blocks: Blocks::Keywords(&["end"]),
        family: "ruby",
        folder_shares_names: false,
        doc_style: "`#` comment lines",
    },
    Spec {
        name: "shellscript",
        display: "shell",
        fence: "bash",
        aliases: &["bash", "sh", "zsh", "shell", "ksh"],
        extensions: &["sh", "bash", "zsh", "ksh"],
        file_names: &[
            ".bashrc",
            ".bash_profile",
            ".zshrc",
            ".profile",
            ".bash_aliases",
        ],
        interpreters: &["bash", "sh", "zsh", "ksh", "dash"],
        grammar_dir: "bash",
        line_comments: &["#"],
        block_comment: None,
        blocks: Blocks::Keywords(&["fi", "done", "esac", "}"]),
        family: "bash",
        folder_shares_names: false,
        doc_style: "`#` comment lines",
    },
    Spec {
        name: "lua",
        display: "Lua",
        fence: "lua",
        aliases: &[],
        extensions: &["lua"],
        file_names: &[],
        interpreters: &["lua", "luajit"],
        grammar_dir: "lua",
        line_comments: &["--"],
        block_comment: Some(("--[[", "]]")),
        blocks: Blocks::Keywords(&["end"]),
        family: "lua",
        folder_shares_names: false,
        doc_style: "`---` comment lines",
    },
    Spec {
        name: "scala",
        display: "Scala",
        fence: "scala",
        aliases: &["sc", "sbt"],
        extensions: &["scala", "sc", "sbt"],
        file_names: &[],
        interpreters: &["scala"],
        grammar_dir: "scala",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "scala",
        folder_shares_names: true,
        doc_style: "a Scaladoc `/** ... */` comment",
    },
    Spec {
        name: "swift",
        display: "Swift",
        fence: "swift",
        aliases: &[],
        extensions: &["swift"],
        file_names: &[],
        interpreters: &["swift"],
        grammar_dir: "swift",
        line_comments: &["//"],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "swift",
        folder_shares_names: true,
        doc_style: "a `///` doc comment",
    },
    Spec {
        name: "json",
        display: "JSON",
        fence: "json",
        // Not JSON5: trailing commas and unquoted keys are errors to this grammar.
        aliases: &["jsonc"],
        extensions: &["json", "jsonc"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "json",
        line_comments: &[],
        block_comment: None,
        blocks: Blocks::Data,
        family: "json",
        folder_shares_names: false,
        doc_style: "a comment",
    },
    Spec {
        name: "yaml",
        display: "YAML",
        fence: "yaml",
        aliases: &["yml", "dockercompose", "github-actions-workflow"],
        extensions: &["yaml", "yml"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "yaml",
        line_comments: &["#"],
        block_comment: None,
        blocks: Blocks::Data,
        family: "yaml",
        folder_shares_names: false,
        doc_style: "a `#` comment",
    },
    Spec {
        name: "toml",
        display: "TOML",
        fence: "toml",
        aliases: &[],
        extensions: &["toml"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "toml",
        line_comments: &["#"],
        block_comment: None,
        blocks: Blocks::Data,
        family: "toml",
        folder_shares_names: false,
        doc_style: "a `#` comment",
    },
    Spec {
        name: "html",
        display: "HTML",
        fence: "html",
        aliases: &["htm", "xhtml"],
        extensions: &["html", "htm", "xhtml"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "html",
        line_comments: &[],
        block_comment: Some(("<!--", "-->")),
        blocks: Blocks::Data,
        family: "html",
        folder_shares_names: false,
        doc_style: "an HTML comment",
    },
    Spec {
        name: "css",
        display: "CSS",
        fence: "css",
        aliases: &[],
        extensions: &["css"],
        file_names: &[],
        interpreters: &[],
        grammar_dir: "css",
        line_comments: &[],
        block_comment: C_COMMENTS,
        blocks: Blocks::Braces,
        family: "css",
        folder_shares_names: false,
        doc_style: "a `/* ... */` comment",
    },
];

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

/// The three queries of a grammar folder, embedded.
macro_rules! queries {
    ($dir:literal) => {
        [
            include_str!(concat!("../grammars/", $dir, "/scopes.scm")),
            include_str!(concat!("../grammars/", $dir, "/definitions.scm")),
            include_str!(concat!("../grammars/", $dir, "/imports.scm")),
        ]
    };
}

impl Language {
    pub const ALL: [Language; 22] = [
        Language::Python,
        Language::Rust,
        Language::JavaScript,
        Language::TypeScript,
        Language::Tsx,
        Language::Go,
        Language::C,
        Language::Cpp,
        Language::Java,
        Language::CSharp,
        Language::Kotlin,
        Language::Php,
        Language::Ruby,
        Language::Bash,
        Language::Lua,
        Language::Scala,
        Language::Swift,
        Language::Json,
        Language::Yaml,
        Language::Toml,
        Language::Html,
        Language::Css,
    ];

    /// This language's row of facts.
    pub fn spec(self) -> &'static Spec {
        &SPECS[self as usize]
    }

    /// From a file name's extension, or the whole name (`.bashrc`, `Rakefile`).
    pub fn from_path(path: &Path) -> Option<Language> {
        let name = path.file_name()?.to_str()?;
        if let Some(l) = Language::ALL
            .into_iter()
            .find(|l| l.spec().file_names.contains(&name))
        {
            return Some(l);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Language::ALL
            .into_iter()
            .find(|l| l.spec().extensions.contains(&ext.as_str()))
    }

    /// From a file's first line, when it is a `#!` line naming an interpreter
    /// (`#!/usr/bin/env python3`, `#!/bin/bash`).
    pub fn from_shebang(text: &str) -> Option<Language> {
        let line = text.strip_prefix("#!")?.lines().next()?;
        let mut words = line.split_whitespace();
        let mut program = words.next()?.rsplit('/').next()?;
        if program == "env" {
            // `env -S bash -e`: the first word that is not an option.
            program = words.find(|w| !w.starts_with('-'))?;
        }
        // `python3.12`, `lua5.3`: the version is not part of the name.
        let program = program.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        Language::ALL
            .into_iter()
            .find(|l| l.spec().interpreters.contains(&program))
    }

    /// From a file's path, else its `#!` line: how a file nobody named a language for is
    /// detected.
    pub fn detect(path: &Path, text: &str) -> Option<Language> {
        Language::from_path(path).or_else(|| Language::from_shebang(text))
    }

    /// From an LSP `languageId` or a user-given name (`--language`, batch `"language"`).
    pub fn from_name(name: &str) -> Option<Language> {
        let name = name.trim().to_ascii_lowercase();
        Language::ALL.into_iter().find(|l| {
            let s = l.spec();
            s.name == name || s.aliases.contains(&name.as_str())
        })
    }

    /// The name used in settings and messages.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The folder under `grammars/` holding this language's queries.
    pub fn grammar_dir(self) -> &'static str {
        self.spec().grammar_dir
    }

    pub fn grammar(self) -> tree_sitter::Language {
        match self {
            Language::Python => tree_sitter_python::LANGUAGE.into(),
            Language::Rust => tree_sitter_rust::LANGUAGE.into(),
            Language::JavaScript => tree_sitter_javascript::LANGUAGE.into(),
            Language::TypeScript => tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
            Language::Tsx => tree_sitter_typescript::LANGUAGE_TSX.into(),
            Language::Go => tree_sitter_go::LANGUAGE.into(),
            Language::C => tree_sitter_c::LANGUAGE.into(),
            Language::Cpp => tree_sitter_cpp::LANGUAGE.into(),
            Language::Java => tree_sitter_java::LANGUAGE.into(),
            Language::CSharp => tree_sitter_c_sharp::LANGUAGE.into(),
            Language::Kotlin => tree_sitter_kotlin_ng::LANGUAGE.into(),
            Language::Php => tree_sitter_php::LANGUAGE_PHP.into(),
            Language::Ruby => tree_sitter_ruby::LANGUAGE.into(),
            Language::Bash => tree_sitter_bash::LANGUAGE.into(),
            Language::Lua => tree_sitter_lua::LANGUAGE.into(),
            Language::Scala => tree_sitter_scala::LANGUAGE.into(),
            Language::Swift => tree_sitter_swift::LANGUAGE.into(),
            Language::Json => tree_sitter_json::LANGUAGE.into(),
            Language::Yaml => tree_sitter_yaml::LANGUAGE.into(),
            Language::Toml => tree_sitter_toml_ng::LANGUAGE.into(),
            Language::Html => tree_sitter_html::LANGUAGE.into(),
            Language::Css => tree_sitter_css::LANGUAGE.into(),
        }
    }

    /// The line-comment leader, for hole markers and generated comments (`None` for
    /// languages without line comments: JSON, HTML, CSS).
    pub fn line_comment(self) -> Option<&'static str> {
        self.spec().line_comments.first().copied()
    }

    /// Every line-comment leader.
    pub fn line_comments(self) -> &'static [&'static str] {
        self.spec().line_comments
    }

    /// The block-comment delimiters, where the language has them.
    pub fn block_comment(self) -> Option<(&'static str, &'static str)> {
        self.spec().block_comment
    }

    /// `text` as a comment of this language (a line comment, else a block comment).
    pub fn comment(self, text: &str) -> String {
        match (self.line_comment(), self.block_comment()) {
            (Some(lead), _) => format!("{lead} {text}"),
            (None, Some((open, close))) => format!("{open} {text} {close}"),
            (None, None) => text.to_string(),
        }
    }

    /// True when a line starting with `trimmed` is a comment.
    pub fn is_comment(self, trimmed: &str) -> bool {
        self.line_comments().iter().any(|m| trimmed.starts_with(m))
            || self
                .block_comment()
                .is_some_and(|(open, _)| trimmed.starts_with(open))
            || (self.blocks() == Blocks::Braces && trimmed.starts_with('*'))
    }

    pub fn blocks(self) -> Blocks {
        self.spec().blocks
    }

    /// True when `{ … }` delimit blocks.
    pub fn uses_braces(self) -> bool {
        self.blocks() == Blocks::Braces
    }

    /// Languages whose files are context for each other ([`Spec::family`]).
    pub fn family(self) -> &'static str {
        self.spec().family
    }

    /// True when `a`'s files are context for `b`'s (the same family; two files of no known
    /// language count only by the same extension, which the caller checks).
    pub fn same_family(a: Option<Language>, b: Option<Language>) -> bool {
        match (a, b) {
            (Some(a), Some(b)) => a.family() == b.family(),
            (None, None) => true,
            _ => false,
        }
    }

    /// True when `line` (trimmed of trailing space) opens a block whose body follows on the
    /// next lines.
    pub fn opens_block(self, line: &str) -> bool {
        let t = line.trim_end();
        let trimmed = t.trim_start();
        if self.is_comment(trimmed) {
            return false;
        }
        let bracket = t.ends_with(['{', '(', '[']);
        match self.blocks() {
            Blocks::Indentation => bracket || t.ends_with(':'),
            Blocks::Braces | Blocks::Data => bracket || t.ends_with("=>"),
            Blocks::Keywords(_) => bracket || keyword_opener(self, trimmed),
        }
    }

    /// True when `trimmed` is a line that ends a keyword-delimited block (`end`, `fi`).
    pub fn closes_keyword_block(self, trimmed: &str) -> bool {
        let Blocks::Keywords(closers) = self.blocks() else {
            return false;
        };
        let word = trimmed
            .split(|c: char| !(c.is_alphanumeric() || c == '}'))
            .next()
            .unwrap_or("");
        closers.contains(&word)
    }

    /// The query source of `kind`, embedded from `grammars/`.
    pub fn query_source(self, kind: QueryKind) -> &'static str {
        let all: [&str; 3] = match self.grammar_dir() {
            "python" => queries!("python"),
            "rust" => queries!("rust"),
            "javascript" => queries!("javascript"),
            "typescript" => queries!("typescript"),
            "go" => queries!("go"),
            "c" => queries!("c"),
            "cpp" => queries!("cpp"),
            "java" => queries!("java"),
            "csharp" => queries!("csharp"),
            "kotlin" => queries!("kotlin"),
            "php" => queries!("php"),
            "ruby" => queries!("ruby"),
            "bash" => queries!("bash"),
            "lua" => queries!("lua"),
            "scala" => queries!("scala"),
            "swift" => queries!("swift"),
            "json" => queries!("json"),
            "yaml" => queries!("yaml"),
            "toml" => queries!("toml"),
            "html" => queries!("html"),
            "css" => queries!("css"),
            other => unreachable!("no grammars/{other}"),
        };
        let i = QueryKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("in ALL");
        all[i]
    }

    /// The compiled query of `kind`, compiled once per process (each language's on first
    /// use: compiling all of them costs more than most sessions need).
    pub fn query(self, kind: QueryKind) -> &'static Query {
        static CACHE: [OnceLock<[Query; 3]>; 22] = [const { OnceLock::new() }; 22];
        let all = CACHE[self as usize].get_or_init(|| {
            QueryKind::ALL.map(|k| {
                Query::new(&self.grammar(), self.query_source(k)).unwrap_or_else(|e| {
                    panic!("grammars/{}/{}: {e}", self.grammar_dir(), k.file_name())
                })
            })
        });
        let ki = QueryKind::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("in ALL");
        &all[ki]
    }
}

/// Keyword-block languages: a line whose last word opens a block (`do`, `then`, a `def`
/// line, `function(…)`).
fn keyword_opener(lang: Language, trimmed: &str) -> bool {
    let first = trimmed.split_whitespace().next().unwrap_or("");
    let last_word = trimmed
        .rsplit(|c: char| c.is_whitespace())
        .next()
        .unwrap_or("");
    let ends_do = matches!(last_word, "do" | "then" | "else" | "in")
        || (last_word.starts_with('|') && trimmed.contains(" do |"));
    match lang {
        Language::Ruby => {
            ends_do
                || matches!(
                    first,
                    "def"
                        | "class"
                        | "module"
                        | "if"
                        | "unless"
                        | "while"
                        | "until"
                        | "case"
                        | "begin"
                )
        }
        Language::Lua => {
            ends_do
                || first == "function"
                || trimmed.starts_with("local function")
                || (trimmed.contains("function(") && trimmed.ends_with(')'))
        }
        _ => ends_do,
    }
}

#[cfg(test)]
mod tests;
