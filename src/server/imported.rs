//! The files the current one imports, found on disk: context beyond the current folder.
//!
//! Each language names its imports its own way; [`targets`] reads them from the text
//! (pure), [`resolve`] turns them into files that exist:
//! - C and C++: `#include "a/b.h"` beside the file, else on the quote include path of a
//!   compile database (`compile_commands.json` in the file's folder or one above it, or
//!   in their `build/`): the `-I`/`-iquote` folders of the file's entry (every entry's,
//!   when the file has none);
//! - Java, Kotlin, Scala: `import a.b.C` under the source root (the file's folder less its
//!   `package a.b` path): `a/b/C.java` (`.kt`, `.scala`);
//! - JavaScript and TypeScript: relative `import … from './x'` and `require('./x')`, with
//!   the extensions and `index` files the module resolution tries;
//! - Python: `from .x import …`, `from . import x`, `import x` beside the file;
//! - PHP `use A\B\C;` (PSR-4: `…/B/C.php`) and C# `using A.B;` (the `…/B/` folder's
//!   `.cs` files): the file's own `namespace` gives the root, its trailing components being
//!   the file's trailing folders (`namespace App\Http` in `app/Http/`: `App` is `app/`);
//! - Ruby `require_relative`, PHP `require`/`include`, shell `source`/`.`, Lua `require`.
//!
//! Go's and Rust's imports name packages and crates, not files: their folders' files are
//! found by [`super::nearby`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::lang::Language;

/// Import statements looked at (the top of a file holds them).
const MAX_TARGETS: usize = 32;
/// Files taken from one C# namespace's folder, and folder entries looked at for them.
const NAMESPACE_FILES: usize = 4;
const NAMESPACE_LISTED: usize = 200;
/// Folders climbed looking for a compile database.
const DATABASE_DEPTH: usize = 8;
/// Compile databases larger than this are not read.
const MAX_DATABASE_BYTES: u64 = 64 << 20;

/// What an import statement names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path relative to the importing file's folder, and the extensions to try after it
    /// (the empty one first: the path as written).
    Relative(String, &'static [&'static str]),
    /// `#include "x"`: beside the file, then on the include path.
    Include(String),
    /// A class under the source root: its path without extension (`a/b/C`), and the
    /// package path of the importing file (`a/b`), to find the root.
    Class {
        path: String,
        package: String,
        extensions: &'static [&'static str],
    },
    /// A name under a namespace whose trailing components are folders (PHP, C#): the
    /// name's components, and the importing file's namespace, to find the root. A name
    /// that is a folder (a C# namespace) gives that folder's files with the extension.
    Namespaced {
        name: Vec<String>,
        namespace: Vec<String>,
        extension: &'static str,
    },
}

const JS_EXTENSIONS: &[&str] = &[
    "",
    ".ts",
    ".tsx",
    ".js",
    ".jsx",
    ".mjs",
    "/index.ts",
    "/index.tsx",
    "/index.js",
];

/// The first string literal in `s` (single, double or back quotes).
fn quoted(s: &str) -> Option<&str> {
    let start = s.find(['"', '\'', '`'])?;
    let q = s[start..].chars().next()?;
    let rest = &s[start + 1..];
    rest.find(q).map(|end| &rest[..end])
}

/// The package a Java/Kotlin/Scala file declares, as a path (`a/b`).
fn package_path(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("package "))
        .map(|p| p.trim_end_matches(';').trim().replace('.', "/"))
        .unwrap_or_default()
}

/// The namespace a PHP (`namespace A\B;`) or C# (`namespace A.B;`, `namespace A.B {`)
/// file declares, as components.
fn namespace_of(text: &str, separator: char) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("namespace "))
        .map(|n| n.trim_end_matches(['{', ';', ' ']).trim())
        .map(|n| split_name(n, separator))
        .unwrap_or_default()
}

fn split_name(name: &str, separator: char) -> Vec<String> {
    name.split(separator)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect()
}

/// The names a PHP `use` statement imports (`use A\B;`, `use A\B as C;`,
/// `use A\{B, C as D};`); functions and constants (`use function`, `use const`) are
/// not files.
fn php_uses(rest: &str) -> Vec<Vec<String>> {
    let rest = rest.trim().trim_end_matches(';').trim();
    if rest.starts_with("function ") || rest.starts_with("const ") {
        return Vec::new();
    }
    let strip_alias = |n: &str| n.split(" as ").next().unwrap_or("").trim().to_string();
    if let Some((head, group)) = rest.split_once('{') {
        let head = head.trim().trim_end_matches('\\');
        return group
            .trim_end_matches('}')
            .split(',')
            .map(|n| split_name(&format!("{head}\\{}", strip_alias(n)), '\\'))
            .filter(|n| n.len() > 1)
            .collect();
    }
    rest.split(',')
        .map(|n| split_name(&strip_alias(n), '\\'))
        .filter(|n| !n.is_empty())
        .collect()
}

/// What `text`'s import statements name (at most [`MAX_TARGETS`]).
pub fn targets(lang: Language, text: &str) -> Vec<Target> {
    let mut out = Vec::new();
    let package = match lang {
        Language::Java | Language::Kotlin | Language::Scala => package_path(text),
        _ => String::new(),
    };
    let namespace = match lang {
        Language::Php => namespace_of(text, '\\'),
        Language::CSharp => namespace_of(text, '.'),
        _ => Vec::new(),
    };
    let namespaced = |name: Vec<String>, extension| Target::Namespaced {
        name,
        namespace: namespace.clone(),
        extension,
    };
    for line in text.lines().map(str::trim) {
        if out.len() >= MAX_TARGETS {
            break;
        }
        let target = match lang {
            Language::C | Language::Cpp => line
                .strip_prefix("#include")
                .map(str::trim_start)
                .filter(|r| r.starts_with('"'))
                .and_then(quoted)
                .map(|p| Target::Include(p.to_string())),
            Language::Java | Language::Kotlin | Language::Scala => {
                line.strip_prefix("import ").and_then(|rest| {
                    let rest = rest.trim_start_matches("static ").trim_end_matches(';');
                    let name = rest.split_whitespace().next()?;
                    // The class: the last component that starts with a capital letter
                    // (`a.b.C.member`, `a.b.C`, `a.b.C.*`).
                    let parts: Vec<&str> = name.split('.').collect();
                    let class = parts
                        .iter()
                        .rposition(|p| p.starts_with(|c: char| c.is_ascii_uppercase()))?;
                    let extensions: &'static [&'static str] = match lang {
                        Language::Java => &[".java"],
                        Language::Kotlin => &[".kt", ".java"],
                        _ => &[".scala", ".java"],
                    };
                    Some(Target::Class {
                        path: parts[..=class].join("/"),
                        package: package.clone(),
                        extensions,
                    })
                })
            }
            Language::JavaScript | Language::TypeScript | Language::Tsx => {
                let spec = if line.starts_with("import ") || line.starts_with("export ") {
                    line.rsplit_once(" from ").and_then(|(_, s)| quoted(s))
                } else {
                    line.find("require(").and_then(|i| quoted(&line[i..]))
                };
                spec.filter(|s| s.starts_with("./") || s.starts_with("../"))
                    .map(|s| Target::Relative(s.to_string(), JS_EXTENSIONS))
            }
            Language::Python => {
                if let Some(rest) = line.strip_prefix("from .") {
                    // `from .x import a`, `from . import x`
                    let (module, names) = rest.split_once(" import ").unwrap_or((rest, ""));
                    let module = module.trim_start_matches('.').trim();
                    let name = if module.is_empty() {
                        names
                            .split([',', ' '])
                            .find(|n| !n.is_empty())
                            .unwrap_or("")
                    } else {
                        module
                    };
                    (!name.is_empty())
                        .then(|| Target::Relative(name.replace('.', "/"), &[".py", "/__init__.py"]))
                } else {
                    line.strip_prefix("import ")
                        .and_then(|r| r.split([',', ' ']).next())
                        .filter(|m| !m.is_empty() && !m.contains('.'))
                        .map(|m| Target::Relative(m.to_string(), &[".py", "/__init__.py"]))
                }
            }
            Language::Ruby => line
                .strip_prefix("require_relative")
                .and_then(quoted)
                .map(|p| Target::Relative(p.to_string(), &["", ".rb"])),
            Language::Php => {
                if let Some(rest) = line.strip_prefix("use ") {
                    // A `use` inside a class body is a trait; those name classes too.
                    out.extend(
                        php_uses(rest)
                            .into_iter()
                            .map(|n| namespaced(n, ".php"))
                            .take(MAX_TARGETS - out.len()),
                    );
                    None
                } else {
                    ["require_once", "include_once", "require", "include"]
                        .iter()
                        .find_map(|k| line.strip_prefix(k))
                        .and_then(|rest| quoted(rest))
                        .map(|p| Target::Relative(p.trim_start_matches('/').to_string(), &[""]))
                }
            }
            // `using A.B;`, `using static A.B.C;`, `using X = A.B;`, `global using A.B;`;
            // not the statement `using (var r = …)` / `using var r = …`.
            Language::CSharp => line
                .strip_prefix("global ")
                .unwrap_or(line)
                .strip_prefix("using ")
                .filter(|r| {
                    r.trim_end().ends_with(';') && !r.starts_with('(') && !r.starts_with("var ")
                })
                .map(|r| r.trim_end().trim_end_matches(';'))
                .map(|r| r.strip_prefix("static ").unwrap_or(r))
                .map(|r| r.rsplit_once('=').map_or(r, |(_, n)| n).trim())
                .map(|n| split_name(n, '.'))
                .filter(|n| !n.is_empty())
                .map(|n| namespaced(n, ".cs")),
            Language::Bash => line
                .strip_prefix("source ")
                .or_else(|| line.strip_prefix(". "))
                .map(|p| p.trim().trim_matches(['"', '\'']))
                .filter(|p| !p.contains('$'))
                .map(|p| Target::Relative(p.to_string(), &["", ".sh"])),
            Language::Lua => line
                .find("require")
                .and_then(|i| quoted(&line[i..]))
                .map(|m| Target::Relative(m.replace('.', "/"), &[".lua", "/init.lua"])),
            _ => None,
        };
        out.extend(target);
    }
    out
}

/// Each file a compile database lists, and its quote include folders.
type Database = HashMap<PathBuf, Vec<PathBuf>>;

/// Include folders from compile databases, cached by the database's modification time.
#[derive(Debug, Default)]
pub struct IncludePaths {
    cached: Mutex<HashMap<PathBuf, (SystemTime, Database)>>,
}

impl IncludePaths {
    /// The quote include folders for `file` from the nearest compile database.
    fn for_file(&self, file: &Path) -> Vec<PathBuf> {
        let Some(db) = find_database(file) else {
            return Vec::new();
        };
        let Ok(meta) = std::fs::metadata(&db) else {
            return Vec::new();
        };
        if meta.len() > MAX_DATABASE_BYTES {
            return Vec::new();
        }
        let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let mut cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        let fresh = cached.get(&db).is_some_and(|(t, _)| *t == mtime);
        if !fresh {
            let entries = crate::regular_file::read(&db, MAX_DATABASE_BYTES)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .map(|t| parse_database(&t))
                .unwrap_or_default();
            cached.insert(db.clone(), (mtime, entries));
        }
        let entries = &cached[&db].1;
        match entries.get(file) {
            Some(dirs) => dirs.clone(),
            // A header, or a file the database does not list: every entry's folders.
            None => {
                let mut all: Vec<PathBuf> = entries.values().flatten().cloned().collect();
                all.sort();
                all.dedup();
                all
            }
        }
    }
}

/// `compile_commands.json` in `file`'s folder or one above it, or in their `build/`.
fn find_database(file: &Path) -> Option<PathBuf> {
    file.ancestors()
        .skip(1)
        .take(DATABASE_DEPTH)
        .find_map(|dir| {
            [
                dir.join("compile_commands.json"),
                dir.join("build").join("compile_commands.json"),
            ]
            .into_iter()
            .find(|p| p.is_file())
        })
}

/// Each file's quote include folders (`-I`, `-iquote`), from a compile database's text.
fn parse_database(text: &str) -> Database {
    let Ok(serde_json::Value::Array(entries)) = serde_json::from_str(text) else {
        return HashMap::new();
    };
    let mut out = HashMap::new();
    for e in entries {
        let dir = PathBuf::from(e["directory"].as_str().unwrap_or(""));
        let Some(file) = e["file"].as_str() else {
            continue;
        };
        let args: Vec<String> = match (&e["arguments"], e["command"].as_str()) {
            (serde_json::Value::Array(a), _) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            (_, Some(cmd)) => cmd.split_whitespace().map(str::to_string).collect(),
            _ => continue,
        };
        let mut dirs = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let flag = ["-iquote", "-I"].iter().find(|f| a.starts_with(*f));
            let Some(flag) = flag else { continue };
            let value = match &a[flag.len()..] {
                "" => it.next().map(String::as_str).unwrap_or(""),
                v => v,
            };
            if !value.is_empty() {
                dirs.push(dir.join(value));
            }
        }
        out.insert(dir.join(file), dirs);
    }
    out
}

/// The files `targets` name, for the file at `current`, that exist (in the order named).
pub fn resolve(current: &Path, targets: &[Target], includes: &IncludePaths) -> Vec<PathBuf> {
    let Some(dir) = current.parent() else {
        return Vec::new();
    };
    let mut include_dirs: Option<Vec<PathBuf>> = None;
    let mut out: Vec<PathBuf> = Vec::new();
    for t in targets {
        let found = match t {
            Target::Relative(p, extensions) => extensions
                .iter()
                .map(|e| dir.join(format!("{p}{e}")))
                .find(|c| c.is_file()),
            Target::Include(p) => {
                std::iter::once(dir.join(p))
                    .find(|c| c.is_file())
                    .or_else(|| {
                        include_dirs
                            .get_or_insert_with(|| includes.for_file(current))
                            .iter()
                            .map(|d| d.join(p))
                            .find(|c| c.is_file())
                    })
            }
            Target::Class {
                path,
                package,
                extensions,
            } => {
                // The source root: the file's folder less its package's folders.
                let depth = package.split('/').filter(|s| !s.is_empty()).count();
                let root = dir.ancestors().nth(depth);
                root.and_then(|r| {
                    extensions
                        .iter()
                        .map(|e| r.join(format!("{path}{e}")))
                        .find(|c| c.is_file())
                })
            }
            Target::Namespaced {
                name,
                namespace,
                extension,
            } => {
                for f in namespaced(dir, name, namespace, extension) {
                    let f = normalize(&f);
                    if f != current && !out.contains(&f) {
                        out.push(f);
                    }
                }
                None
            }
        };
        if let Some(f) = found.map(|f| normalize(&f))
            && f != current
            && !out.contains(&f)
        {
            out.push(f);
        }
    }
    out
}

/// The files `name` names from a file in `dir` that declares `namespace`: the root is
/// `dir` less the namespace's trailing components that are its trailing folders, and
/// stands for the namespace's other (leading) components, which `name` must start with.
/// `A/B/C.ext` when that file exists, else the `.ext` files of the folder `A/B/C`.
fn namespaced(dir: &Path, name: &[String], namespace: &[String], extension: &str) -> Vec<PathBuf> {
    let folders: Vec<&str> = dir
        .components()
        .rev()
        .map(|c| c.as_os_str().to_str().unwrap_or(""))
        .collect();
    let matched = namespace
        .iter()
        .rev()
        .zip(&folders)
        .take_while(|(n, f)| n.as_str() == **f)
        .count();
    let prefix = &namespace[..namespace.len() - matched];
    let (Some(root), Some(rest)) = (dir.ancestors().nth(matched), name.strip_prefix(prefix)) else {
        return Vec::new();
    };
    if rest.is_empty() {
        return Vec::new();
    }
    let path = rest.iter().fold(root.to_path_buf(), |p, c| p.join(c));
    let file = path.with_file_name(format!("{}{extension}", rest[rest.len() - 1]));
    if file.is_file() {
        return vec![file];
    }
    let Ok(entries) = std::fs::read_dir(&path) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .take(NAMESPACE_LISTED)
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == extension.strip_prefix('.'))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files.truncate(NAMESPACE_FILES);
    files
}

/// `a/./b/../c` as `a/c`, without touching the disk (symbolic links stay as named).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_statements_name_their_files() {
        use Language::*;
        let t = |lang, text| targets(lang, text);
        assert_eq!(
            t(Cpp, "#include <vector>\n#include \"geo/point.h\"\n"),
            [Target::Include("geo/point.h".into())]
        );
        assert_eq!(
            t(
                Java,
                "package trip.report;\n\nimport static trip.geo.Geometry.distance;\nimport trip.geo.Point;\nimport java.util.*;\n"
            ),
            [
                Target::Class {
                    path: "trip/geo/Geometry".into(),
                    package: "trip/report".into(),
                    extensions: &[".java"]
                },
                Target::Class {
                    path: "trip/geo/Point".into(),
                    package: "trip/report".into(),
                    extensions: &[".java"]
                },
            ]
        );
        assert_eq!(
            t(
                TypeScript,
                "import { a } from \"./geometry\";\nimport x from 'react';\nconst b = require('../b');\n"
            ),
            [
                Target::Relative("./geometry".into(), JS_EXTENSIONS),
                Target::Relative("../b".into(), JS_EXTENSIONS),
            ]
        );
        assert_eq!(
            t(
                Python,
                "from .helpers import f\nfrom . import models\nimport os\n"
            ),
            [
                Target::Relative("helpers".into(), &[".py", "/__init__.py"]),
                Target::Relative("models".into(), &[".py", "/__init__.py"]),
                Target::Relative("os".into(), &[".py", "/__init__.py"]),
            ]
        );
        assert_eq!(
            t(Ruby, "require_relative 'geometry'\nrequire 'json'\n"),
            [Target::Relative("geometry".into(), &["", ".rb"])]
        );
        assert_eq!(
            t(Php, "<?php\nrequire_once __DIR__ . '/lib/geo.php';\n"),
            [Target::Relative("lib/geo.php".into(), &[""])]
        );
        let names = |n: &[&str]| n.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(
            t(
                Php,
                "<?php\nnamespace App\\Http;\n\nuse App\\Models\\User;\nuse App\\Geo\\{Point, Line as L};\nuse function App\\helper;\n"
            ),
            [
                Target::Namespaced {
                    name: names(&["App", "Models", "User"]),
                    namespace: names(&["App", "Http"]),
                    extension: ".php"
                },
                Target::Namespaced {
                    name: names(&["App", "Geo", "Point"]),
                    namespace: names(&["App", "Http"]),
                    extension: ".php"
                },
                Target::Namespaced {
                    name: names(&["App", "Geo", "Line"]),
                    namespace: names(&["App", "Http"]),
                    extension: ".php"
                },
            ]
        );
        assert_eq!(
            t(
                CSharp,
                "using System;\nusing static Trip.Geo.Geometry;\nnamespace Trip.Report;\nclass R { void F() { using (var r = Open()) {} } }\n"
            ),
            [
                Target::Namespaced {
                    name: names(&["System"]),
                    namespace: names(&["Trip", "Report"]),
                    extension: ".cs"
                },
                Target::Namespaced {
                    name: names(&["Trip", "Geo", "Geometry"]),
                    namespace: names(&["Trip", "Report"]),
                    extension: ".cs"
                },
            ]
        );
        assert_eq!(
            t(Bash, "source ./lib.sh\n. \"$HOME/x\"\n"),
            [Target::Relative("./lib.sh".into(), &["", ".sh"])]
        );
        assert_eq!(
            t(Lua, "local g = require(\"trip.geometry\")\n"),
            [Target::Relative(
                "trip/geometry".into(),
                &[".lua", "/init.lua"]
            )]
        );
    }

    #[test]
    fn imports_resolve_to_files_on_disk() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        let write = |p: &str| {
            let p = r.join(p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, "x").unwrap();
        };
        // Java: the class under the source root.
        write("src/trip/geo/Geometry.java");
        write("src/trip/report/Report.java");
        let report = r.join("src/trip/report/Report.java");
        let ts = targets(
            Language::Java,
            "package trip.report;\nimport trip.geo.Geometry;\nimport trip.geo.Missing;\n",
        );
        let none = IncludePaths::default();
        assert_eq!(
            resolve(&report, &ts, &none),
            [r.join("src/trip/geo/Geometry.java")]
        );
        // C++: beside the file, else on the compile database's include path.
        write("include/geo/point.h");
        write("src/app/main.cpp");
        write("src/app/local.h");
        let main = r.join("src/app/main.cpp");
        std::fs::write(
            r.join("compile_commands.json"),
            serde_json::json!([{
                "directory": r.display().to_string(),
                "file": "src/app/main.cpp",
                "arguments": ["c++", "-Iinclude", "-c", "src/app/main.cpp"],
            }])
            .to_string(),
        )
        .unwrap();
        let ts = targets(
            Language::Cpp,
            "#include \"local.h\"\n#include \"geo/point.h\"\n#include \"nowhere.h\"\n",
        );
        let includes = IncludePaths::default();
        assert_eq!(
            resolve(&main, &ts, &includes),
            [r.join("src/app/local.h"), r.join("include/geo/point.h")]
        );
        // TypeScript: the extension the module resolution adds.
        write("web/lib/geometry.ts");
        write("web/app/report.ts");
        let ts = targets(
            Language::TypeScript,
            "import { d } from \"../lib/geometry\";\n",
        );
        assert_eq!(
            resolve(&r.join("web/app/report.ts"), &ts, &none),
            [r.join("web/lib/geometry.ts")]
        );
        // PHP (PSR-4): `App` is the folder `app/`, found from the file's own namespace.
        write("php/app/Models/User.php");
        write("php/app/Http/Controller.php");
        let ts = targets(
            Language::Php,
            "<?php\nnamespace App\\Http;\nuse App\\Models\\User;\nuse Vendor\\Lib\\Thing;\n",
        );
        assert_eq!(
            resolve(&r.join("php/app/Http/Controller.php"), &ts, &none),
            [r.join("php/app/Models/User.php")]
        );
        // C#: a namespace is a folder (its files); a type named by `using static` is a file.
        write("cs/Trip.Core/Geo/Point.cs");
        write("cs/Trip.Core/Geo/Line.cs");
        write("cs/Trip.Core/Geo/notes.txt");
        write("cs/Trip.Core/Util/Clock.cs");
        write("cs/Trip.Core/Report/Report.cs");
        let ts = targets(
            Language::CSharp,
            "using System.Linq;\nusing Trip.Core.Geo;\nusing static Trip.Core.Util.Clock;\nnamespace Trip.Core.Report\n{\n}\n",
        );
        assert_eq!(
            resolve(&r.join("cs/Trip.Core/Report/Report.cs"), &ts, &none),
            [
                r.join("cs/Trip.Core/Geo/Line.cs"),
                r.join("cs/Trip.Core/Geo/Point.cs"),
                r.join("cs/Trip.Core/Util/Clock.cs"),
            ]
        );
    }
}
