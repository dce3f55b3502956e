use super::symbols::{definitions, identifiers, imports};
use super::*;
use crate::syntax::parse;
use crate::tokenizer::ApproxCounter;

fn src<'a>(path: &'a str, text: &'a str, tree: &'a Tree, recency: u64) -> Source<'a> {
    Source {
        path,
        text,
        language: Language::from_path(std::path::Path::new(path)),
        tree: Some(tree),
        recency,
    }
}

/// Context for a cursor at the end of `main` (at `path`), with `others` as (path, text,
/// recency).
fn context_at_end(path: &str, main: &str, others: &[(&str, &str, u64)]) -> Vec<ContextFile> {
    let main_tree = parse(Language::Python, main, None).unwrap();
    let trees: Vec<Tree> = others
        .iter()
        .map(|(p, t, _)| {
            parse(
                Language::from_path(std::path::Path::new(p)).unwrap(),
                t,
                None,
            )
            .unwrap()
        })
        .collect();
    let sources: Vec<Source<'_>> = others
        .iter()
        .zip(&trees)
        .map(|((p, t, r), tree)| src(p, t, tree, *r))
        .collect();
    build_at_end(&src(path, main, &main_tree, 2), &sources)
}

/// Context with the default options for a cursor at the end of `current`.
fn build_at_end(current: &Source<'_>, others: &[Source<'_>]) -> Vec<ContextFile> {
    build(
        current,
        current.text.len(),
        others,
        &Options::default(),
        &ApproxCounter,
    )
}

const HELPERS: &str = r#"import math


def haversine(lat1, lon1, lat2, lon2):
    """Great-circle distance in kilometres."""
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    c = 2 * math.atan2(math.sqrt(a), math.sqrt(1 - a))
    d = r * c
    e = d
    f = e
    g = f
    return g


def unused_helper(x):
    return x


class Point:
    def __init__(self, lat, lon):
        self.lat = lat
        self.lon = lon
"#;

#[test]
fn definitions_have_signatures_with_docstrings() {
    let tree = parse(Language::Python, HELPERS, None).unwrap();
    let defs = definitions(Language::Python, &tree, HELPERS);
    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["haversine", "unused_helper", "Point", "__init__"]);
    assert_eq!(
        defs[0].signature,
        "def haversine(lat1, lon1, lat2, lon2):\n    \"\"\"Great-circle distance in kilometres.\"\"\"\n    ..."
    );
    assert_eq!(defs[2].kind, "class");
}

#[test]
fn rust_and_typescript_signatures_elide_bodies() {
    let rs = "pub fn area(w: f64, h: f64) -> f64 {\n    w * h\n}\nstruct P { x: i32 }\n";
    let tree = parse(Language::Rust, rs, None).unwrap();
    let defs = definitions(Language::Rust, &tree, rs);
    assert_eq!(
        defs[0].signature,
        "pub fn area(w: f64, h: f64) -> f64 { ... }"
    );
    assert_eq!(defs[1].name, "P");

    let ts = "export const add = (a: number, b: number): number => {\n  return a + b;\n};\ninterface Shape { area(): number }\n";
    let tree = parse(Language::TypeScript, ts, None).unwrap();
    let defs = definitions(Language::TypeScript, &tree, ts);
    let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["add", "Shape"]);
    assert!(
        defs[0].signature.ends_with("{ ... }"),
        "{}",
        defs[0].signature
    );
}

#[test]
fn imports_are_found_in_every_language() {
    let go = "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(1) }\n";
    let tree = parse(Language::Go, go, None).unwrap();
    assert_eq!(imports(Language::Go, &tree, go).len(), 2);
    let tree = parse(Language::Python, HELPERS, None).unwrap();
    assert_eq!(
        imports(Language::Python, &tree, HELPERS)[0].1,
        "import math"
    );
    // ES modules and CommonJS `require` declarations; other calls are not imports.
    let js = "import fs from 'fs';\nconst { join } = require('./paths');\nvar log = require('./log')\nconst n = parseInt('1');\n";
    let tree = parse(Language::JavaScript, js, None).unwrap();
    let found: Vec<String> = imports(Language::JavaScript, &tree, js)
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(
        found,
        [
            "import fs from 'fs';",
            "const { join } = require('./paths');",
            "var log = require('./log')"
        ]
    );
}

#[test]
fn identifiers_skip_keywords_and_numbers() {
    let ids = identifiers("def f(x):\n    return haversine(x, 1, y2) + x");
    assert_eq!(ids.get("x"), Some(&3));
    assert!(ids.contains_key("haversine") && ids.contains_key("y2"));
    assert!(!ids.contains_key("def") && !ids.contains_key("return") && !ids.contains_key("1"));
}

#[test]
fn name_imported_from_another_files_module_is_in_context_before_its_first_use() {
    // `haversine` is imported but not used yet; `unused_helper` is imported from elsewhere.
    let main =
        "from helpers import haversine\nfrom tools import unused_helper\n\n\ndef trip(a, b):\n    ";
    let ctx = context_at_end("app/main.py", main, &[("app/helpers.py", HELPERS, 1)]);
    assert_eq!(ctx.len(), 1);
    assert!(ctx[0].text.contains("def haversine("), "{}", ctx[0].text);
    assert!(!ctx[0].text.contains("unused_helper"), "{}", ctx[0].text);
}

#[test]
fn whole_module_imports_are_told_from_named_ones() {
    use super::symbols::imports_whole;
    let py = Language::Python;
    assert!(imports_whole(py, "import helpers", "helpers"));
    assert!(imports_whole(
        py,
        "from . import format_helpers",
        "format_helpers"
    ));
    assert!(imports_whole(py, "import app.helpers as h", "helpers"));
    assert!(!imports_whole(
        py,
        "from helpers import haversine",
        "helpers"
    ));
    let js = Language::JavaScript;
    assert!(imports_whole(
        js,
        "import * as helpers from './helpers';",
        "helpers"
    ));
    assert!(imports_whole(
        js,
        "const helpers = require('./helpers')",
        "helpers"
    ));
    assert!(!imports_whole(
        js,
        "import { f } from './helpers';",
        "helpers"
    ));
    let rs = Language::Rust;
    assert!(imports_whole(rs, "use crate::helpers;", "helpers"));
    assert!(imports_whole(rs, "use crate::{helpers, other};", "helpers"));
    assert!(!imports_whole(rs, "use crate::helpers::{a, b};", "helpers"));
}

#[test]
fn namesakes_and_local_definitions_stay_out() {
    // `callback` is a local function of another file and `__repr__` a method every class
    // has; `size` is a top-level name of a module the current file does not import.
    let other = "def main():\n    def callback():\n        pass\n\n\nclass Thing:\n    def __repr__(self):\n        return 'x'\n\n\nsize = 3\n";
    let main = "import reprlib\n\ndef fmt(cb):\n    size = len(cb)\n    def format_cb(callback):\n        return repr(callback).__repr__()\n    ";
    // On disk, not open: no snippets, only definitions.
    let ctx = context_at_end("pkg/base.py", main, &[("pkg/runner.py", other, 0)]);
    assert!(ctx.is_empty(), "{ctx:?}");
}

#[test]
fn module_used_near_the_cursor_shows_its_outline() {
    // The module is imported whole and used: any of its top-level names may come next.
    let main = "from app import helpers\n\ndef trip(a, b):\n    d = helpers.";
    let others = [("app/helpers.py", HELPERS, 1)];
    let ctx = context_at_end("app/main.py", main, &others);
    assert_eq!(ctx.len(), 1);
    let text = &ctx[0].text;
    assert!(
        text.contains("def haversine(lat1, lon1, lat2, lon2):"),
        "{text}"
    );
    assert!(text.contains("def unused_helper(x):"), "{text}");
    assert!(text.contains("class Point:"), "{text}");
    // Signatures only, and no methods: an outline, not the code; each line stays valid
    // Python, one per line.
    assert!(
        text.contains("def unused_helper(x): ...\nclass Point: ..."),
        "{text}"
    );
    assert!(!text.contains("return x"), "{text}");
    assert!(!text.contains("__init__"), "{text}");
    // Imported under another module's name: nothing.
    let other = "from tools import helpers2\n\ndef trip(a, b):\n    d = helpers2.";
    let ctx = context_at_end("app/main.py", other, &others);
    assert!(ctx.is_empty(), "{ctx:?}");
}

#[test]
fn outline_lines_stay_valid_code() {
    // A signature over several lines is joined; a constant whose value runs on shows its
    // name only: the first line alone of either would not parse.
    let helpers = "def split(text,\n          sep=None):\n    \"\"\"Split.\"\"\"\n    return text.split(sep)\n\n\nPATTERN = re.compile(r'a+',\n                     re.I)\n";
    let main = "from app import helpers\n\ndef go(a):\n    return helpers.";
    let ctx = context_at_end("app/main.py", main, &[("app/helpers.py", helpers, 1)]);
    assert_eq!(ctx.len(), 1);
    assert_eq!(
        ctx[0].text, "def split(text, sep=None): ...\nPATTERN = ...",
        "{:?}",
        ctx[0].text
    );
}

#[test]
fn definition_used_near_the_cursor_is_in_context() {
    let main = "from helpers import haversine\n\ndef trip(a, b):\n    km = haversine(";
    let ctx = context_at_end("app/main.py", main, &[("app/helpers.py", HELPERS, 1)]);
    assert_eq!(ctx.len(), 1);
    assert_eq!(ctx[0].path, "app/helpers.py");
    // Long body: the signature with its docstring, not the code.
    assert!(
        ctx[0]
            .text
            .contains("def haversine(lat1, lon1, lat2, lon2):"),
        "{}",
        ctx[0].text
    );
    assert!(ctx[0].text.contains("Great-circle"));
    assert!(!ctx[0].text.contains("atan2"), "{}", ctx[0].text);
    // Not used near the cursor: not shown.
    assert!(!ctx[0].text.contains("unused_helper"));
}

#[test]
fn small_definitions_are_shown_whole() {
    let main = "p = Point(1, 2)\nq = unused_helper(p)\n";
    let ctx = context_at_end("main.py", main, &[("helpers.py", HELPERS, 1)]);
    let text = &ctx[0].text;
    assert!(
        text.contains("def unused_helper(x):\n    return x"),
        "{text}"
    );
    assert!(text.contains("class Point:\n    def __init__"), "{text}");
    // __init__ is inside Point, which is shown whole: not repeated.
    assert_eq!(text.matches("__init__").count(), 1, "{text}");
}

#[test]
fn budget_limits_context_and_nothing_fails() {
    let helpers_tree = parse(Language::Python, HELPERS, None).unwrap();
    let main = "haversine Point unused_helper";
    let main_tree = parse(Language::Python, main, None).unwrap();
    let current = src("main.py", main, &main_tree, 2);
    let others = [src("helpers.py", HELPERS, &helpers_tree, 1)];
    let opts = Options {
        budget: 30,
        ..Options::default()
    };
    let ctx = build(&current, main.len(), &others, &opts, &ApproxCounter);
    let total: usize = ctx.iter().map(|c| ApproxCounter.count(&c.text)).sum();
    assert!(total <= 30, "{ctx:?}");
    // No tree, unknown language, empty budget: just less context.
    let plain = Source {
        path: "notes.txt",
        text: "haversine",
        language: None,
        tree: None,
        recency: 1,
    };
    assert!(build(&current, 0, &[plain], &Options::default(), &ApproxCounter).is_empty());
    let none = Options {
        budget: 0,
        ..Options::default()
    };
    assert!(build(&current, 0, &others, &none, &ApproxCounter).is_empty());
}

#[test]
fn files_over_the_size_cap_are_not_used() {
    let main = "from helpers import haversine\n\ndef trip(a, b):\n    km = haversine(";
    let main_tree = parse(Language::Python, main, None).unwrap();
    let current = src("app/main.py", main, &main_tree, 2);
    // The same helpers, padded past 1 MiB with comment lines after the definitions. The
    // helpers' own tree stands for the whole file's (its offsets hold in both, and
    // parsing a megabyte in a debug build is slow).
    let big = format!(
        "{HELPERS}{}",
        "# generated\n".repeat(MAX_SOURCE_BYTES / 12 + 1)
    );
    assert!(big.len() > MAX_SOURCE_BYTES);
    let helpers_tree = parse(Language::Python, HELPERS, None).unwrap();
    let others = [src("app/helpers.py", &big, &helpers_tree, 1)];
    let ctx = build_at_end(&current, &others);
    assert!(ctx.is_empty(), "{ctx:?}");
    // With the cap raised, the same file gives its definition.
    let raised = Options {
        max_source_bytes: big.len(),
        ..Options::default()
    };
    let ctx = build(&current, main.len(), &others, &raised, &ApproxCounter);
    assert!(ctx[0].text.contains("def haversine("), "{ctx:?}");
    // Under the cap, the helpers alone too.
    let small = [src("app/helpers.py", HELPERS, &helpers_tree, 1)];
    let ctx = build_at_end(&current, &small);
    assert!(ctx[0].text.contains("def haversine("), "{ctx:?}");
    // The cap is an option: one byte short of the file leaves it out.
    let opts = Options {
        max_source_bytes: HELPERS.len() - 1,
        ..Options::default()
    };
    assert!(build(&current, main.len(), &small, &opts, &ApproxCounter).is_empty());
}

#[test]
fn only_the_first_sources_are_looked_at() {
    let main = "from helpers import haversine\n\ndef trip(a, b):\n    km = haversine(";
    let main_tree = parse(Language::Python, main, None).unwrap();
    let current = src("app/main.py", main, &main_tree, 2);
    let helpers_tree = parse(Language::Python, HELPERS, None).unwrap();
    let filler = "def other():\n    return 0\n";
    let filler_tree = parse(Language::Python, filler, None).unwrap();
    let names: Vec<String> = (0..MAX_SOURCES).map(|i| format!("app/f{i}.py")).collect();
    // The helpers come after `MAX_SOURCES` more recent files: not looked at.
    let mut others: Vec<Source<'_>> = names
        .iter()
        .map(|n| src(n, filler, &filler_tree, 5))
        .collect();
    others.push(src("app/helpers.py", HELPERS, &helpers_tree, 1));
    let ctx = build_at_end(&current, &others);
    assert!(ctx.iter().all(|c| c.path != "app/helpers.py"), "{ctx:?}");
    // One place earlier, they are.
    others.remove(0);
    let ctx = build_at_end(&current, &others);
    assert!(ctx.iter().any(|c| c.path == "app/helpers.py"), "{ctx:?}");
    // The current file among the others takes no place.
    others.insert(0, current);
    let ctx = build_at_end(&current, &others);
    assert!(ctx.iter().any(|c| c.path == "app/helpers.py"), "{ctx:?}");
}

#[test]
fn similar_snippets_come_from_recent_files() {
    let other = "def load_orders(path):\n    rows = read_csv(path)\n    orders = [parse_order(r) for r in rows]\n    return [o for o in orders if o.total > 0]\n";
    let other_tree = parse(Language::Python, other, None).unwrap();
    let main = "def load_items(path):\n    rows = read_csv(path)\n    items = [parse_item(r) for r in rows]\n    ";
    let main_tree = parse(Language::Python, main, None).unwrap();
    let current = src("items.py", main, &main_tree, 3);
    let others = [src("orders.py", other, &other_tree, 2)];
    let ctx = build_at_end(&current, &others);
    assert_eq!(ctx.len(), 1, "{ctx:?}");
    assert!(ctx[0].text.contains("read_csv(path)"));
}

#[test]
fn preamble_keeps_imports_and_enclosing_headers_above_the_window() {
    let text = "import os\nimport sys\n\nclass Store:\n    def load(self, path):\n        a = 1\n        b = 2\n        return os.path.join(path, a, b)\n";
    let tree = parse(Language::Python, text, None).unwrap();
    let cursor = text.find("return").unwrap();
    let window_start = text.find("        b = 2").unwrap();
    let got = preamble(Language::Python, &tree, text, window_start, cursor);
    assert_eq!(
        got,
        "import os\nimport sys\n\nclass Store:\n    def load(self, path):\n"
    );
    assert_eq!(preamble(Language::Python, &tree, text, 0, cursor), "");
}

#[test]
fn a_long_class_is_shown_as_its_fields_and_method_signatures() {
    let stdio = r#"from pydantic import BaseModel


class StdioServerParameters(BaseModel):
    """How to start a server."""

    command: str
    """The executable to run."""

    args: list[str] = Field(
        default_factory=list,
    )
    env: dict[str, str] | None = None
    # Where the server runs.
    cwd: str | None = None

    @property
    def shell(self) -> bool:
        return False

    def _private(self):
        pass

    def with_env(self,
                 env: dict[str, str]) -> "StdioServerParameters":
        """A copy with `env`."""
        return self.model_copy(update={"env": env})
"#;
    let main = "from mcp.client.stdio import StdioServerParameters\n\ndef go(cmd):\n    p = StdioServerParameters(";
    let ctx = context_at_end(
        "mcp/client/main.py",
        main,
        &[("mcp/client/stdio.py", stdio, 1)],
    );
    assert_eq!(ctx.len(), 1);
    assert_eq!(
        ctx[0].text,
        "class StdioServerParameters(BaseModel):\n    \"\"\"How to start a server.\"\"\"\n    command: str\n    args: list[str] = ...\n    env: dict[str, str] | None = None\n    cwd: str | None = None\n    @property\n    def shell(self) -> bool: ...\n    def with_env(self, env: dict[str, str]) -> \"StdioServerParameters\": ...",
        "{}",
        ctx[0].text
    );
    assert!(
        parse(Language::Python, &ctx[0].text, None).is_some_and(|t| !t.root_node().has_error())
    );
    // Without the members' outline: the header and docstring alone.
    let opts = Options {
        members: false,
        ..Options::default()
    };
    let trees = [
        parse(Language::Python, main, None).unwrap(),
        parse(Language::Python, stdio, None).unwrap(),
    ];
    let ctx = build(
        &src("mcp/client/main.py", main, &trees[0], 2),
        main.len(),
        &[src("mcp/client/stdio.py", stdio, &trees[1], 1)],
        &opts,
        &ApproxCounter,
    );
    assert_eq!(
        ctx[0].text,
        "class StdioServerParameters(BaseModel):\n    \"\"\"How to start a server.\"\"\"\n    ..."
    );
}

#[test]
fn a_long_rust_struct_or_trait_keeps_its_braces() {
    let mut lib = String::from("pub struct Server {\n");
    for i in 0..30 {
        lib.push_str(&format!("    pub field{i}: u32, // the {i}th\n"));
    }
    lib.push_str("}\n\npub trait Handler {\n");
    for i in 0..14 {
        lib.push_str(&format!("    fn method{i}(&self, x: u32) -> u32;\n"));
    }
    lib.push_str("    fn provided(&self) -> u32 {\n        0\n    }\n}\n");
    let tree = parse(Language::Rust, &lib, None).unwrap();
    let defs = definitions(Language::Rust, &tree, &lib);
    let render = |name: &str| {
        let def = defs.iter().find(|d| d.name == name).unwrap();
        render::render_definition(Language::Rust, &tree, def, &lib, 12, true)
    };
    let server = render("Server");
    assert!(
        server.starts_with("pub struct Server {\n    pub field0: u32, // the 0th\n"),
        "{server}"
    );
    assert!(server.contains("field23"), "{server}");
    assert!(!server.contains("field24"), "{server}");
    assert!(server.ends_with("    // ...\n}"), "{server}");
    let handler = render("Handler");
    assert!(
        handler.contains("    fn method13(&self, x: u32) -> u32;\n"),
        "{handler}"
    );
    assert!(
        handler.ends_with("    fn provided(&self) -> u32 { ... }\n}"),
        "{handler}"
    );
    // `{ ... }` stands for a body, as in every Rust signature in the context.
    let reparsed = parse(Language::Rust, &server, None).unwrap();
    assert!(!reparsed.root_node().has_error(), "{server}");
}

/// Context comes from files of the same language family, never from whatever was edited
/// last: Java and Rust before TypeScript code lead the model into Java or Rust.
#[test]
fn context_comes_from_the_same_language_family() {
    let ts = "export function sumSquares(xs: number[]): number {\n  let total = 0;\n  for (const x of xs) {\n    total += ";
    let ts_tree = parse(Language::TypeScript, ts, None).unwrap();
    let current = src("app/sum.ts", ts, &ts_tree, 5);
    let rs = "pub fn sum_squares(xs: &[i32]) -> i32 {\n    let mut total = 0;\n    for x in xs {\n        total += x * x;\n    }\n    total\n}\n";
    let rs_tree = parse(Language::Rust, rs, None).unwrap();
    let js = "export function sumCubes(xs) {\n  let total = 0;\n  for (const x of xs) {\n    total += x * x * x;\n  }\n  return total;\n}\n";
    let js_tree = parse(Language::JavaScript, js, None).unwrap();
    let others = [
        src("app/main.rs", rs, &rs_tree, 4),
        src("app/cubes.js", js, &js_tree, 3),
    ];
    let ctx = build_at_end(&current, &others);
    assert!(ctx.iter().all(|c| c.path != "app/main.rs"), "{ctx:?}");
    assert!(ctx.iter().any(|c| c.path == "app/cubes.js"), "{ctx:?}");
}
