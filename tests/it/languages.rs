//! Every language quill knows, with its real grammar and the fake engine: a file of it
//! gets a syntax-checked answer in the server, the CLI's pipeline and batch; context comes
//! from another file it imports; explain and review find the function at the cursor.

use std::path::Path;
use std::sync::Arc;

use serde_json::json;

use quill::assist::{Action, target};
use quill::batch::{BatchSettings, Input as BatchInput};
use quill::complete::{Input, complete_blocking};
use quill::config::CompletionConfig;
use quill::engine::fake::FakeBackend;
use quill::lang::Language;
use quill::tokenizer::ApproxCounter;

use crate::lsp::{Fake, inline_caps, ready, start};
use crate::lsp_client::inline_text;

const CURSOR: &str = "<CURSOR>";

/// A two-file project of one language: `main` imports `lib` and calls `name` (defined in
/// `lib`) on the line above the cursor, inside the function `function`.
struct Project {
    /// The LSP language id an editor sends.
    id: &'static str,
    lib: (&'static str, &'static str),
    main: (&'static str, &'static str),
    name: &'static str,
    function: &'static str,
    /// A statement that parses at the cursor, and one that does not.
    good: &'static str,
    bad: &'static str,
}

const PROJECTS: &[Project] = &[
    Project {
        id: "c",
        lib: (
            "geometry.h",
            "#pragma once\n\ndouble distance(double a, double b);\n",
        ),
        main: (
            "trip.c",
            "#include \"geometry.h\"\n\ndouble trip_length(const double *xs, int n) {\n    double total = 0;\n    for (int i = 1; i < n; i++) {\n        total += distance(xs[i - 1], xs[i]);\n        <CURSOR>\n    }\n    return total;\n}\n",
        ),
        name: "distance",
        function: "trip_length",
        good: "total += 0.5;",
        bad: "total += (0.5;",
    },
    Project {
        id: "cpp",
        lib: (
            "geometry.hpp",
            "#pragma once\n\nnamespace geo {\n\ndouble distance(double a, double b);\n\n}  // namespace geo\n",
        ),
        main: (
            "trip.cpp",
            "#include \"geometry.hpp\"\n\n#include <vector>\n\ndouble trip_length(const std::vector<double>& xs) {\n    double total = 0;\n    for (size_t i = 1; i < xs.size(); ++i) {\n        total += geo::distance(xs[i - 1], xs[i]);\n        <CURSOR>\n    }\n    return total;\n}\n",
        ),
        name: "distance",
        function: "trip_length",
        good: "total += 0.5;",
        bad: "total += (0.5;",
    },
    Project {
        id: "java",
        lib: (
            "Geometry.java",
            "package trip;\n\npublic final class Geometry {\n    public static double distance(double a, double b) {\n        return Math.abs(b - a);\n    }\n}\n",
        ),
        main: (
            "Trip.java",
            "package trip;\n\npublic final class Trip {\n    static double length(double[] xs) {\n        double total = 0;\n        for (int i = 1; i < xs.length; i++) {\n            total += Geometry.distance(xs[i - 1], xs[i]);\n            <CURSOR>\n        }\n        return total;\n    }\n}\n",
        ),
        name: "distance",
        function: "length",
        good: "total += 0.5;",
        bad: "total += (0.5;",
    },
    Project {
        id: "csharp",
        lib: (
            "Geometry.cs",
            "namespace Trip;\n\npublic static class Geometry\n{\n    public static double Distance(double a, double b)\n    {\n        return Math.Abs(b - a);\n    }\n}\n",
        ),
        main: (
            "Route.cs",
            "namespace Trip;\n\npublic static class Route\n{\n    public static double Length(double[] xs)\n    {\n        double total = 0;\n        for (int i = 1; i < xs.Length; i++)\n        {\n            total += Geometry.Distance(xs[i - 1], xs[i]);\n            <CURSOR>\n        }\n        return total;\n    }\n}\n",
        ),
        name: "Distance",
        function: "Length",
        good: "total += 0.5;",
        bad: "total += (0.5;",
    },
    Project {
        id: "kotlin",
        lib: (
            "Geometry.kt",
            "package trip\n\nfun distance(a: Double, b: Double): Double {\n    return kotlin.math.abs(b - a)\n}\n",
        ),
        main: (
            "Route.kt",
            "package trip\n\nfun routeLength(xs: DoubleArray): Double {\n    var total = 0.0\n    for (i in 1 until xs.size) {\n        total += distance(xs[i - 1], xs[i])\n        <CURSOR>\n    }\n    return total\n}\n",
        ),
        name: "distance",
        function: "routeLength",
        good: "total += 0.5",
        bad: "total += (0.5",
    },
    Project {
        id: "php",
        lib: (
            "geometry.php",
            "<?php\n\nfunction distance(float $a, float $b): float\n{\n    return abs($b - $a);\n}\n",
        ),
        main: (
            "route.php",
            "<?php\n\nrequire_once 'geometry.php';\n\nfunction route_length(array $xs): float\n{\n    $total = 0.0;\n    for ($i = 1; $i < count($xs); $i++) {\n        $total += distance($xs[$i - 1], $xs[$i]);\n        <CURSOR>\n    }\n    return $total;\n}\n",
        ),
        name: "distance",
        function: "route_length",
        good: "$total += 0.5;",
        bad: "$total += (0.5;",
    },
    Project {
        id: "ruby",
        lib: ("geometry.rb", "def distance(a, b)\n  (b - a).abs\nend\n"),
        main: (
            "route.rb",
            "require_relative 'geometry'\n\ndef route_length(xs)\n  total = 0.0\n  xs.each_cons(2) do |a, b|\n    total += distance(a, b)\n    <CURSOR>\n  end\n  total\nend\n",
        ),
        name: "distance",
        function: "route_length",
        good: "total += 0.5",
        bad: "total += (0.5",
    },
    Project {
        id: "shellscript",
        lib: ("lib.sh", "distance() {\n  echo $(( $2 - $1 ))\n}\n"),
        main: (
            "route.sh",
            "#!/bin/bash\nsource ./lib.sh\n\nroute_length() {\n  local total=0\n  for x in \"$@\"; do\n    total=$(( total + $(distance 0 \"$x\") ))\n    <CURSOR>\n  done\n  echo \"$total\"\n}\n",
        ),
        name: "distance",
        function: "route_length",
        good: "echo \"$total\"",
        bad: "echo )",
    },
    Project {
        id: "lua",
        lib: (
            "geometry.lua",
            "local M = {}\n\nfunction M.distance(a, b)\n  return math.abs(b - a)\nend\n\nreturn M\n",
        ),
        main: (
            "route.lua",
            "local geometry = require(\"geometry\")\n\nlocal function route_length(xs)\n  local total = 0\n  for i = 2, #xs do\n    total = total + geometry.distance(xs[i - 1], xs[i])\n    <CURSOR>\n  end\n  return total\nend\n\nreturn route_length\n",
        ),
        name: "distance",
        function: "route_length",
        good: "total = total + 0.5",
        bad: "total = total + (0.5",
    },
    Project {
        id: "scala",
        lib: (
            "Geometry.scala",
            "package trip\n\nobject Geometry {\n  def distance(a: Double, b: Double): Double = math.abs(b - a)\n}\n",
        ),
        main: (
            "Route.scala",
            "package trip\n\nobject Route {\n  def routeLength(xs: Array[Double]): Double = {\n    var total = 0.0\n    for (i <- 1 until xs.length) {\n      total += Geometry.distance(xs(i - 1), xs(i))\n      <CURSOR>\n    }\n    total\n  }\n}\n",
        ),
        name: "distance",
        function: "routeLength",
        good: "total += 0.5",
        bad: "total += (0.5",
    },
    Project {
        id: "swift",
        lib: (
            "Geometry.swift",
            "func distance(_ a: Double, _ b: Double) -> Double {\n    return abs(b - a)\n}\n",
        ),
        main: (
            "Route.swift",
            "func routeLength(_ xs: [Double]) -> Double {\n    var total = 0.0\n    for i in 1..<xs.count {\n        total += distance(xs[i - 1], xs[i])\n        <CURSOR>\n    }\n    return total\n}\n",
        ),
        name: "distance",
        function: "routeLength",
        good: "total += 0.5",
        bad: "total += (0.5",
    },
    Project {
        id: "typescript",
        lib: (
            "geometry.ts",
            "export function distance(a: number, b: number): number {\n  return Math.abs(b - a);\n}\n",
        ),
        main: (
            "route.ts",
            "import { distance } from \"./geometry\";\n\nexport function routeLength(xs: number[]): number {\n  let total = 0;\n  for (let i = 1; i < xs.length; i++) {\n    total += distance(xs[i - 1], xs[i]);\n    <CURSOR>\n  }\n  return total;\n}\n",
        ),
        name: "distance",
        function: "routeLength",
        good: "total += 0.5;",
        bad: "total += (0.5;",
    },
    Project {
        id: "go",
        lib: (
            "geometry.go",
            "package trip\n\nimport \"math\"\n\nfunc Distance(a, b float64) float64 {\n\treturn math.Abs(b - a)\n}\n",
        ),
        main: (
            "route.go",
            "package trip\n\nfunc RouteLength(xs []float64) float64 {\n\ttotal := 0.0\n\tfor i := 1; i < len(xs); i++ {\n\t\ttotal += Distance(xs[i-1], xs[i])\n\t\t<CURSOR>\n\t}\n\treturn total\n}\n",
        ),
        name: "Distance",
        function: "RouteLength",
        good: "total += 0.5",
        bad: "total += (0.5",
    },
];

/// Data and markup languages: only the syntax check applies.
const DATA: &[(&str, &str, &str, &str, &str)] = &[
    // (id, path, text with the cursor, good, bad)
    (
        "json",
        "config.json",
        "{\n  \"name\": \"quill\",\n  <CURSOR>\n}\n",
        "\"port\": 80",
        "\"port\" 80",
    ),
    (
        "yaml",
        "config.yaml",
        "server:\n  port: 80\n  <CURSOR>\n",
        "host: example",
        "host: \"unclosed",
    ),
    (
        "toml",
        "config.toml",
        "[server]\nport = 80\n<CURSOR>\n",
        "host = \"example\"",
        "host = = \"example\"",
    ),
    (
        "css",
        "site.css",
        "a {\n  color: red;\n  <CURSOR>\n}\n",
        "margin: 0;",
        "margin: 0;;}}",
    ),
];

fn split(marked: &str) -> (String, usize) {
    let at = marked.find(CURSOR).expect("a cursor");
    (marked.replace(CURSOR, ""), at)
}

fn position(text: &str, at: usize) -> (u32, u32) {
    let line = text[..at].matches('\n').count() as u32;
    let col = (at - text[..at].rfind('\n').map_or(0, |i| i + 1)) as u32;
    (line, col)
}

/// The answer the server shows at the cursor of `main` (opened after `lib`) when the
/// model writes `answer`, and the prompt the model saw.
async fn served(
    id: &str,
    lib: Option<(&str, &str)>,
    main: (&str, &str),
    answer: &'static str,
) -> (Option<String>, String) {
    let fake = Fake::default();
    let (mut c, _) = start(
        fake.factory(answer, 0, 0),
        inline_caps(),
        json!({"warmup": false}),
    )
    .await;
    ready(&mut c).await;
    if let Some((path, text)) = lib {
        c.open(&format!("file:///w/{path}"), id, text).await;
    }
    let (text, at) = split(main.1);
    let uri = format!("file:///w/{}", main.0);
    c.open(&uri, id, &text).await;
    let (line, col) = position(&text, at);
    let r = c.inline(&uri, line, col).await.unwrap();
    c.shutdown().await;
    (
        inline_text(&r).filter(|t| !t.trim().is_empty()),
        fake.last_prompt(),
    )
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_language_gets_context_from_a_file_it_imports_and_checked_answers() {
    for p in PROJECTS {
        let lang = Language::from_name(p.id).unwrap();
        let good = leak(format!("{}\n", p.good));
        let (shown, prompt) = served(p.id, Some(p.lib), p.main, good).await;
        assert_eq!(shown.as_deref(), Some(p.good), "{}: {prompt}", p.id);
        // The other file's definition of the name used above the cursor heads the prompt.
        let ctx = prompt.find(&format!("<|file_sep|>{}\n", p.lib.0));
        let cur = prompt.find(&format!("<|file_sep|>{}\n", p.main.0));
        assert!(
            ctx.is_some() && ctx < cur,
            "{}: no context:\n{prompt}",
            p.id
        );
        let lib_part = &prompt[ctx.unwrap()..cur.unwrap()];
        assert!(lib_part.contains(p.name), "{}:\n{prompt}", p.id);
        // A line that breaks the syntax is not shown.
        let bad = leak(format!("{}\n", p.bad));
        let (shown, _) = served(p.id, Some(p.lib), p.main, bad).await;
        assert_eq!(shown, None, "{} ({lang:?}) showed a broken line", p.id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_languages_get_checked_answers() {
    for (id, path, text, good, bad) in DATA {
        let (shown, _) = served(id, None, (path, text), leak(format!("{good}\n"))).await;
        assert_eq!(shown.as_deref(), Some(*good), "{id}");
        let (shown, _) = served(id, None, (path, text), leak(format!("{bad}\n"))).await;
        assert_eq!(shown, None, "{id} showed a broken line");
    }
}

/// The CLI's pipeline (`quill complete`, `quill eval`) and `quill batch` check answers in
/// every language too, and take the editors' names for it.
#[test]
fn the_cli_and_batch_check_answers_in_every_language() {
    for p in PROJECTS {
        let lang = Language::from_name(p.id).unwrap();
        let (text, at) = split(p.main.1);
        for (answer, want) in [(p.good, p.good), (p.bad, "")] {
            let reply = format!("{answer}\n");
            let engine = FakeBackend::new(move |_| reply.clone()).spawn();
            let mut input = Input::new(&text, at);
            input.language = Some(lang);
            let cfg = CompletionConfig {
                rescue_candidates: 0,
                ..CompletionConfig::default()
            };
            let c = complete_blocking(&engine, &input, &cfg, &ApproxCounter).unwrap();
            assert_eq!(c.text, want, "{} CLI", p.id);

            let task = json!({
                "id": p.id,
                "prefix": &text[..at],
                "suffix": &text[at..],
                "language": p.id,
            });
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join("out.jsonl");
            let info = engine.ready_blocking().unwrap();
            let settings = BatchSettings {
                completion: cfg.clone(),
                max_tokens_instruction: 64,
                temperature: 0.0,
                seed: 1,
                affinity: false,
            };
            let summary = quill::batch::run(
                &engine,
                info,
                Arc::new(ApproxCounter),
                &BatchInput::from_text(&format!("{task}\n")),
                &out,
                false,
                1,
                settings,
                |_, _| {},
            )
            .unwrap();
            assert_eq!(summary.failed, 0, "{}", p.id);
            let record: serde_json::Value =
                serde_json::from_str(std::fs::read_to_string(&out).unwrap().trim()).unwrap();
            assert_eq!(record["text"], want, "{} batch: {record}", p.id);
        }
    }
}

/// Explain, fix and review work on the function around the cursor, in every language.
#[test]
fn explain_finds_the_function_at_the_cursor() {
    for p in PROJECTS {
        let lang = Language::from_name(p.id).unwrap();
        assert_eq!(
            Language::from_path(Path::new(p.main.0)),
            Some(lang),
            "{}",
            p.id
        );
        let (text, at) = split(p.main.1);
        let tree = quill::syntax::parse(lang, &text, None).unwrap();
        let t = target(&text, Some(lang), Some(&tree), at, at, &Action::Explain);
        assert_eq!(t.kind, "function", "{}", p.id);
        let code = &text[t.start..t.end];
        assert!(
            code.contains(p.function) && code.contains(p.name),
            "{}: {code}",
            p.id
        );
    }
}
