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

/// The table's rows are in the enum's order, and no name, alias or extension is
/// claimed twice.
#[test]
fn the_table_is_consistent() {
    let mut names = std::collections::HashSet::new();
    let mut exts = std::collections::HashSet::new();
    for (i, lang) in Language::ALL.into_iter().enumerate() {
        assert_eq!(lang as usize, i);
        let s = lang.spec();
        for n in std::iter::once(&s.name).chain(s.aliases) {
            assert!(names.insert(*n), "{n} twice");
            assert_eq!(Language::from_name(n), Some(lang), "{n}");
        }
        for e in s.extensions {
            assert!(exts.insert(*e), "extension {e} twice");
        }
    }
}

#[test]
fn detects_by_extension_id_and_shebang() {
    assert_eq!(
        Language::from_path(Path::new("a/b.py")),
        Some(Language::Python)
    );
    assert_eq!(Language::from_path(Path::new("x.TSX")), Some(Language::Tsx));
    assert_eq!(Language::from_path(Path::new("README.md")), None);
    assert_eq!(Language::from_name("typescriptreact"), Some(Language::Tsx));
    assert_eq!(Language::from_name("cobol"), None);
    // The names editors send.
    for (id, lang) in [
        ("cpp", Language::Cpp),
        ("c", Language::C),
        ("csharp", Language::CSharp),
        ("java", Language::Java),
        ("kotlin", Language::Kotlin),
        ("shellscript", Language::Bash),
        ("sh", Language::Bash),
        ("jsonc", Language::Json),
        ("ruby", Language::Ruby),
        ("C++", Language::Cpp),
    ] {
        assert_eq!(Language::from_name(id), Some(lang), "{id}");
    }
    assert_eq!(
        Language::from_path(Path::new("geometry.hpp")),
        Some(Language::Cpp)
    );
    assert_eq!(
        Language::from_shebang("#!/usr/bin/env python3\nprint(1)\n"),
        Some(Language::Python)
    );
    assert_eq!(
        Language::from_shebang("#!/bin/bash -e\n"),
        Some(Language::Bash)
    );
    assert_eq!(
        Language::from_shebang("#!/usr/bin/env -S ruby -w\n"),
        Some(Language::Ruby)
    );
    assert_eq!(Language::from_shebang("echo hi\n"), None);
    assert_eq!(
        Language::from_shebang("#!/usr/bin/python3.12\n"),
        Some(Language::Python)
    );
    assert_eq!(
        Language::from_path(Path::new("home/.bashrc")),
        Some(Language::Bash)
    );
    assert_eq!(
        Language::from_path(Path::new("Rakefile")),
        Some(Language::Ruby)
    );
    assert_eq!(
        Language::detect(Path::new("bin/deploy"), "#!/bin/sh\nset -e\n"),
        Some(Language::Bash)
    );
}

#[test]
fn block_openers() {
    assert!(Language::Python.opens_block("    def f(x):"));
    assert!(Language::Python.opens_block("    x = {"));
    assert!(!Language::Python.opens_block("    # note:"));
    assert!(Language::Rust.opens_block("fn main() {"));
    assert!(!Language::Go.opens_block("x := 1"));
    assert!(Language::Ruby.opens_block("  xs.each do |x|"));
    assert!(Language::Ruby.opens_block("  def total(xs)"));
    assert!(!Language::Ruby.opens_block("  total += x"));
    assert!(Language::Lua.opens_block("for i = 1, n do"));
    assert!(Language::Bash.opens_block("if [ -f x ]; then"));
    assert!(Language::Ruby.closes_keyword_block("end"));
    assert!(Language::Bash.closes_keyword_block("done < file"));
    assert!(!Language::Ruby.closes_keyword_block("ending = 1"));
}
