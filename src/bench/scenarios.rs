//! The typing replays' projects (`quill bench --lsp --scenario NAME`): one per language,
//! the files under `benches/data/`, and which lines of them a replay types.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

use crate::text::LineIndex;

/// A typing replay's project: the file typed in, the lines typed (1-based first line,
/// count), and the files open beside it.
pub struct ReplayScenario {
    pub name: &'static str,
    pub file: &'static str,
    pub line: usize,
    pub lines: usize,
    pub others: &'static [&'static str],
}

/// One project per language, the same task in each (a trip report over a geometry module
/// it imports; two functions typed, the first a loop that calls the other file), except
/// Python's, the replay the earlier numbers in BENCHMARKS.md were taken on.
pub const SCENARIOS: [ReplayScenario; 6] = [
    ReplayScenario {
        name: "python",
        file: "benches/data/report.py",
        // Two functions of report.py (`overdue`, `category_share`) and the blank lines.
        line: 28,
        lines: 11,
        others: &["benches/data/inventory.py", "examples/holes.py"],
    },
    ReplayScenario {
        name: "typescript",
        file: "benches/data/typescript/report.ts",
        line: 26,
        lines: 15,
        others: &["benches/data/typescript/geometry.ts"],
    },
    ReplayScenario {
        name: "rust",
        file: "benches/data/rust/report.rs",
        line: 27,
        lines: 15,
        others: &["benches/data/rust/geometry.rs"],
    },
    ReplayScenario {
        name: "go",
        file: "benches/data/go/report.go",
        line: 35,
        lines: 15,
        others: &["benches/data/go/geometry.go"],
    },
    ReplayScenario {
        name: "java",
        file: "benches/data/java/Report.java",
        line: 32,
        lines: 15,
        others: &["benches/data/java/Geometry.java"],
    },
    ReplayScenario {
        name: "cpp",
        file: "benches/data/cpp/report.cpp",
        line: 36,
        lines: 15,
        others: &["benches/data/cpp/geometry.h"],
    },
];

/// The scenario called `name`.
pub fn find(name: &str) -> Result<&'static ReplayScenario> {
    match SCENARIOS.iter().find(|s| s.name == name) {
        Some(s) => Ok(s),
        None => {
            let names: Vec<&str> = SCENARIOS.iter().map(|s| s.name).collect();
            bail!("no scenario {name:?} ({})", names.join(", "))
        }
    }
}

/// The lines a replay of `source` types (0-based first line, count): `--line` (1-based)
/// and `--lines` when given; the scenario's own for the `people` replay; else
/// `lines` from two thirds down the file.
pub fn lines_typed(
    source: &str,
    scenario: Option<&ReplayScenario>,
    line: Option<usize>,
    lines: usize,
    people: bool,
) -> Result<(usize, usize)> {
    Ok(match (line, scenario) {
        (Some(l), _) if l >= 1 => (l - 1, lines),
        (Some(_), _) => bail!("--line starts at 1"),
        (None, Some(s)) if people => (s.line - 1, s.lines),
        (None, _) => (LineIndex::new(source).lines() * 2 / 3, lines),
    })
}

/// The files open beside `file`: the scenario's (Python's for a file of the user's own),
/// those that exist and are not `file`.
pub fn open_beside(scenario: Option<&ReplayScenario>, file: &Path) -> Vec<PathBuf> {
    scenario
        .unwrap_or(&SCENARIOS[0])
        .others
        .iter()
        .map(PathBuf::from)
        .filter(|p| p != file && p.exists())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_names_files_that_exist_and_lines_inside_them() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for s in &SCENARIOS {
            let text = std::fs::read_to_string(root.join(s.file)).unwrap();
            let n = LineIndex::new(&text).lines();
            assert!(
                s.line >= 1 && s.line + s.lines <= n + 1,
                "{}: {n} lines",
                s.name
            );
            for other in s.others {
                assert!(root.join(other).is_file(), "{}: {other}", s.name);
            }
        }
        assert!(find("cobol").is_err());
        assert_eq!(find("go").unwrap().file, "benches/data/go/report.go");
    }

    #[test]
    fn the_lines_typed_follow_the_flags_then_the_scenario() {
        let src = "a\nb\nc\nd\ne\nf\n";
        let s = find("rust").unwrap();
        assert_eq!(lines_typed(src, Some(s), Some(2), 3, true).unwrap(), (1, 3));
        assert!(lines_typed(src, Some(s), Some(0), 3, true).is_err());
        assert_eq!(
            lines_typed(src, Some(s), None, 3, true).unwrap(),
            (s.line - 1, s.lines)
        );
        assert_eq!(lines_typed(src, Some(s), None, 3, false).unwrap(), (4, 3));
    }
}
