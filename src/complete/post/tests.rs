use super::*;

fn shape(marked: &str, lang: Language) -> Shape {
    let cfg = CompletionConfig {
        max_block_lines: 20,
        ..CompletionConfig::default()
    };
    shape_with(marked, lang, &cfg)
}

fn shape_with(marked: &str, lang: Language, cfg: &CompletionConfig) -> Shape {
    let off = marked.find("$0").unwrap();
    Shape::at(&marked.replace("$0", ""), off, Some(lang), cfg)
}

fn finish(marked: &str, lang: Language, generated: &str) -> String {
    shape(marked, lang).finish(generated)
}

/// A line finished at its end looks ahead: its generation goes on to the end of
/// the next non-blank line, then stops.
#[test]
fn a_line_at_its_end_looks_ahead_one_line() {
    use Language::*;
    let at_end = shape("def f(xs):\n    total = $0\n\nprint(f([1]))\n", Python);
    assert!(at_end.looks_ahead());
    assert!(!at_end.should_stop("0"));
    assert!(at_end.should_stop("0\n"));
    for unfinished in ["0", "0\n", "0\n\n", "0\n    for x in"] {
        assert!(!at_end.should_stop_ahead(unfinished), "{unfinished:?}");
    }
    assert!(at_end.should_stop_ahead("0\n    for x in xs:\n"));
    assert!(at_end.should_stop_ahead("0\n\n    for x in xs:\n"));
    // Mid-line, on an empty line, at a line's start: the answer is all there is.
    assert!(!shape("x = foo($0)\n", Python).looks_ahead());
    assert!(!shape("def f():\n    $0\n", Python).looks_ahead());
    assert!(!shape("def f():\n    $0return 1\n", Python).looks_ahead());
}

#[test]
fn mode_from_cursor() {
    use Language::*;
    assert_eq!(shape("x = foo($0)\n", Python).mode, Mode::Line);
    assert_eq!(shape("def f():\n    $0\n", Python).mode, Mode::Block);
    assert_eq!(shape("def f():$0\n", Python).mode, Mode::Block);
    assert_eq!(shape("fn main() {$0\n}", Rust).mode, Mode::Block);
    assert_eq!(shape("    let x = $0\n", Rust).mode, Mode::Line);
}

#[test]
fn auto_multiline_gives_one_statement_inside_a_block() {
    use Language::*;
    let auto = CompletionConfig {
        multiline: Multiline::Auto,
        ..CompletionConfig::default()
    };
    let statement = |marked: &str, lang| shape_with(marked, lang, &auto).statement;
    // More of the block follows: one statement.
    let inside = "def f():\n    x = 1\n    $0\n    return x\n";
    assert!(statement(inside, Python));
    let always = CompletionConfig {
        multiline: Multiline::Always,
        ..CompletionConfig::default()
    };
    assert!(!shape_with(inside, Python, &always).statement);
    // Right after the opener, at the block's end, at top level, at the end of the
    // file, and with code on the cursor's line: as before.
    assert!(!statement("def f():\n    $0\n    return x\n", Python));
    assert!(!statement("def f():\n    x = 1\n    $0\n\ny = 2\n", Python));
    assert!(!statement("fn f() {\n    let x = 1;\n    $0\n}\n", Rust));
    assert!(!statement("x = 1\n$0\ny = 2\n", Python));
    assert!(!statement("def f():\n    x = 1\n    $0", Python));
    assert!(!statement("    x = $0\n    y = 1\n", Python));

    let s = shape_with(inside, Python, &auto);
    assert_eq!(s.mode, Mode::Block);
    // A simple statement: one line.
    assert!(s.should_stop("y = 2\n    return y\n"));
    assert_eq!(s.finish("y = 2\n    return y"), "y = 2");
    // A compound one: its body, up to the next line at the cursor's column.
    let compound = "if x:\n        x += 1\n    return x\n";
    assert_eq!(s.finish(compound), "if x:\n        x += 1");
    // Its closing bracket belongs to it.
    let call = "print(\n        x,\n    )\n    return x\n";
    assert_eq!(s.finish(call), "print(\n        x,\n    )");
    let rust = "fn f() {\n    let x = 1;\n    $0\n    x\n}\n";
    let s = shape_with(rust, Rust, &auto);
    assert_eq!(
        s.finish("if x > 0 {\n        x += 1;\n    }\n    x\n}"),
        "if x > 0 {\n        x += 1;\n    }"
    );
    // `} else {` and `else:` go on with the same statement.
    assert_eq!(
        s.finish("let y = if x > 0 {\n        1\n    } else {\n        2\n    };\n    x\n"),
        "let y = if x > 0 {\n        1\n    } else {\n        2\n    };"
    );
    let s = shape_with(inside, Python, &auto);
    assert_eq!(
        s.finish("if x:\n        y = 1\n    else:\n        y = 2\n    return y\n"),
        "if x:\n        y = 1\n    else:\n        y = 2"
    );
}

#[test]
fn blank_line_can_end_a_block() {
    let stop = CompletionConfig {
        stop_at_blank_line: true,
        ..CompletionConfig::default()
    };
    let s = shape_with("def f(x):\n    $0\n", Language::Python, &stop);
    let generated = "\n    y = x\n\n    return y\n";
    // A blank line before any code is not the end.
    assert_eq!(s.finish(generated), "\n    y = x");
    assert!(s.should_stop(generated));
    assert_eq!(
        shape("def f(x):\n    $0\n", Language::Python).finish(generated),
        "\n    y = x\n\n    return y"
    );
}

#[test]
fn line_mode_stops_at_newline_and_trims_closing_bracket() {
    let s = shape("print(foo($0))\n", Language::Python);
    assert!(!s.should_stop("a, b"));
    assert!(s.should_stop("a, b))\nprint(2)"));
    assert_eq!(s.finish("a, b))\nprint(2)"), "a, b");
    assert_eq!(s.finish("a, b)"), "a, b");
}

#[test]
fn block_stops_when_indentation_returns() {
    let text = "def f(x):\n    $0\n\nprint(f(2))\n";
    let got = finish(
        text,
        Language::Python,
        "y = x * 2\n    return y\n\ndef g():\n    pass",
    );
    assert_eq!(got, "y = x * 2\n    return y");
}

#[test]
fn block_after_opener_needs_deeper_indent() {
    let text = "def f(x):$0\n";
    let got = finish(text, Language::Python, "\n    return x + 1\nprint(1)\n");
    assert_eq!(got, "\n    return x + 1");
}

#[test]
fn block_stops_at_suffix_repetition() {
    let text = "def f(x):\n    $0\n    return total\n";
    let got = finish(text, Language::Python, "total = sum(x)\n    return total\n");
    assert_eq!(got, "total = sum(x)");
}

#[test]
fn markdown_fences_and_prose_are_dropped() {
    let text = "def f(x):\n    $0\n";
    let got = finish(
        text,
        Language::Python,
        "```python\nreturn x\n```\n\n### Explanation\nThis returns x.",
    );
    assert_eq!(got, "return x");
}

#[test]
fn rust_block_keeps_its_own_closing_brace_but_not_the_suffixs() {
    let text = "fn main() {\n    $0\n}\n";
    let got = finish(text, Language::Rust, "if x {\n        y();\n    }\n}\n");
    assert_eq!(got, "if x {\n        y();\n    }");
    // At the end of a file, a function body written after its opener closes itself.
    let text = "fn main() {$0";
    let got = finish(text, Language::Rust, "\n    run();\n}\n\nfn other() {}\n");
    assert_eq!(got, "\n    run();\n}");
}

#[test]
fn doubled_indent_is_removed() {
    let text = "def f(x):\n    $0\n";
    assert_eq!(finish(text, Language::Python, "    return x"), "return x");
}

#[test]
fn block_line_limit() {
    let mut s = shape("def f():\n    $0\n", Language::Python);
    s.max_lines = 2;
    assert_eq!(
        s.finish("a = 1\n    b = 2\n    c = 3\n"),
        "a = 1\n    b = 2"
    );
}

#[test]
fn streaming_waits_for_whole_lines() {
    let s = shape("def f(x):\n    $0\n\nprint(1)\n", Language::Python);
    assert!(!s.should_stop("return x"));
    assert!(!s.should_stop("return x\n"));
    assert!(s.should_stop("return x\nprint(1)\n"));
}

#[test]
fn line_start_gets_whole_lines_in_front_of_the_code() {
    use Language::*;
    // Column 0 of a line with code: the benchmark shape (the prefix ends with a line
    // break, the suffix starts with the next line).
    let text = "def f(x):\n    y = x * 2\n$0    return y\n";
    let s = shape(text, Python);
    assert!(s.whole_lines);
    assert_eq!(s.mode, Mode::Block);
    // The model's line, its indentation kept, ending with a line break.
    assert_eq!(s.finish("    y += 1\n"), "    y += 1\n");
    assert_eq!(s.finish("    y += 1"), "    y += 1\n");
    // One statement: a line at its indentation ends it, as does the code after the
    // cursor written again.
    assert!(s.should_stop("    y += 1\n    z = 2\n"));
    assert_eq!(s.finish("    y += 1\n    z = 2\n"), "    y += 1\n");
    assert_eq!(s.finish("    return y\n"), "");
    // Before a deeper line the hole is that line's header: the header alone.
    let s2 = shape("class A:\n$0        return 1\n", Python);
    assert_eq!(
        s2.finish("    def f(self):\n        \"\"\"Doc.\"\"\"\n        return 1\n"),
        "    def f(self):\n"
    );
    // A compound statement keeps its body; a call its closing bracket.
    assert_eq!(
        s.finish("    if y < 0:\n        y = 0\n    return y\n"),
        "    if y < 0:\n        y = 0\n"
    );
    assert_eq!(
        s.finish("    y = g(\n        y,\n    )\n    return y\n"),
        "    y = g(\n        y,\n    )\n"
    );
    // At the indentation of a line with code: the inserted lines end with the line
    // break and that indentation, so the code keeps its place.
    let s = shape("def f(x):\n    $0return x\n", Python);
    assert!(s.whole_lines);
    assert_eq!(s.finish("x += 1\n    "), "x += 1\n    ");
    assert_eq!(s.finish("    x += 1\n"), "x += 1\n    ");
    // Not at a line start, or on an empty line: as before.
    assert!(!shape("x = $0foo()\n", Python).whole_lines);
    assert!(!shape("def f():\n    $0\n", Python).whole_lines);
    let rust = shape("fn f() {\n$0    g();\n}\n", Rust);
    assert_eq!(
        rust.finish("    let x = 1;\n    g();\n"),
        "    let x = 1;\n"
    );
}

#[test]
fn a_line_the_code_below_goes_on_with_is_that_line_alone() {
    use Language::*;
    // An empty line inside a block, the code below deeper: the hole is that code's
    // header, and a body or docstring written after it would sit above the real one.
    let s = shape(
        "class A:\n    x = 1\n\n    $0\n        return self.x\n",
        Python,
    );
    assert!(s.should_stop("def f(self):\n"));
    assert_eq!(
        s.finish("def f(self):\n        \"\"\"Doc.\"\"\"\n        y = 2\n"),
        "def f(self):"
    );
    // A bracket the line opens whose contents are below.
    let s = shape("def f():\n    y = 0\n    $0\n        1,\n    ]\n", Python);
    assert_eq!(s.finish("x = [\n        2,\n    ]\n"), "x = [");
    // Mid-line: the bracket's contents are below, so the line ends at its end.
    let s = shape("def f():\n    x = $0\n        1,\n    ]\n", Python);
    assert_eq!(s.mode, Mode::Line);
    assert!(s.should_stop("[\n"));
    assert_eq!(s.finish("[\n        2,\n    ]"), "[");
    // The code below at the cursor's depth: a statement with its body, as before.
    let s = shape("def f():\n    y = 0\n    $0\n    return y\n", Python);
    assert_eq!(
        s.finish("if y:\n        y = 1\n    return y\n"),
        "if y:\n        y = 1"
    );
    // At column 0 the cursor's depth is unknown: the model's lines stand.
    let s = shape(
        "class A:\n    x = 1\n$0\n    def g(self):\n        pass\n",
        Python,
    );
    assert_eq!(
        s.finish("    def f(self):\n        pass\n"),
        "    def f(self):\n        pass"
    );
    // Brace languages: the block's body is below.
    let s = shape(
        "fn f() {\n    let a = 1;\n    $0\n        g();\n    }\n}\n",
        Rust,
    );
    assert_eq!(s.finish("if a > 0 {\n        h();\n    }\n"), "if a > 0 {");
}

#[test]
fn allman_braces_go_on_with_their_header() {
    use Language::*;
    // `if (l==r)` then `{` under it: one statement, its block included; before, the
    // `{` at the cursor's column ended the answer and left a braceless `if` that took
    // the code after the hole as its body.
    let s = shape(
        "int f(int l, int r) {\n    while (l<r)\n    {\n        l+=1;\n    }\n$0    return l;\n}\n",
        Cpp,
    );
    assert_eq!(
        s.finish("    if (l==r)\n    {\n        l+=2;\n    }\n    return l;\n"),
        "    if (l==r)\n    {\n        l+=2;\n    }\n"
    );
    // A header whose body and `}` are below already: its `{` on the next line too.
    let s = shape(
        "void f(int a) {\n    if (a)\n    {\n        h();\n    }\n$0        g();\n    }\n}\n",
        Cpp,
    );
    assert_eq!(
        s.finish("    if (a==0)\n    {\n        g();\n"),
        "    if (a==0)\n    {\n"
    );
    // K&R style is unchanged: the header with its brace, alone.
    assert_eq!(
        s.finish("    if (a==0) {\n        g();\n"),
        "    if (a==0) {\n"
    );
    // A statement ended with `;` is not a header: a `{` after it is not its block.
    let s = shape("void f() {\n$0    g();\n}\n", Cpp);
    assert_eq!(s.finish("    h();\n    {\n"), "    h();\n");
}

#[test]
fn a_comment_opening_whole_lines_stays_with_its_statement() {
    use Language::*;
    // The hole is a header with its body below; the model explains it first.
    let s = shape(
        "int f(double n) {\n    int r = 0;\n$0        r = 1;\n    }\n    return r;\n}\n",
        Java,
    );
    assert_eq!(
        s.finish("    // positive numbers\n    if (n > 0) {\n        r = 1;\n"),
        "    // positive numbers\n    if (n > 0) {\n"
    );
    let s = shape("def f(x):\n    y = x * 2\n$0    return y\n", Python);
    assert_eq!(
        s.finish("    # double again\n    y *= 2\n    return y\n"),
        "    # double again\n    y *= 2\n"
    );
}

#[test]
fn a_blank_line_before_whole_lines_is_dropped() {
    let s = shape(
        "def f(x):\n    y = x * 2\n$0    return y\n",
        Language::Python,
    );
    assert_eq!(s.finish("\n    y += 1\n"), "    y += 1\n");
    assert_eq!(s.finish("  \n\n    y += 1\n"), "    y += 1\n");
}

#[test]
fn at_column_0_the_first_line_sets_the_block_indentation() {
    // The end of a file after a function's body, the cursor at column 0 (the last
    // line of a body removed): the body's line, not the test code an Instruct model
    // writes after it at top level.
    let s = shape("def f(x):\n    y = x * 2\n$0", Language::Python);
    assert_eq!(s.mode, Mode::Block);
    let generated = "    return y\n\n# Check\nassert f(1) == 2\n";
    assert!(s.should_stop(generated));
    assert_eq!(s.finish(generated), "    return y");
    // Deeper lines and lines at the same indentation stay.
    assert_eq!(
        s.finish("    if y:\n        y += 1\n    return y\nprint(1)\n"),
        "    if y:\n        y += 1\n    return y"
    );
    // A first line at column 0 leaves the block open to top-level code.
    assert_eq!(
        s.finish("def g():\n    pass\n\nprint(g())"),
        "def g():\n    pass\n\nprint(g())"
    );
}

#[test]
fn a_line_that_opens_a_bracket_goes_on_until_it_closes() {
    use Language::*;
    let s = shape("    params = $0\n    run(params)\n", Python);
    assert_eq!(s.mode, Mode::Line);
    let generated = "Params(\n        command=\"x\",\n        args=[1],\n    )\n    run(params)\n";
    assert!(!s.should_stop("Params(\n        command=\"x\",\n"));
    assert!(s.should_stop(generated));
    assert_eq!(
        s.finish(generated),
        "Params(\n        command=\"x\",\n        args=[1],\n    )"
    );
    // Brackets the cursor's line opened before the cursor are the suffix's to close.
    let s = shape("x = foo($0)\n", Python);
    assert_eq!(s.finish("a, b\nprint(2)\n"), "a, b");
    // Brackets in strings and comments do not count; the block limit still holds.
    assert!(s.should_stop("\"(\" # (\nnext\n"));
    let mut s = shape("x = $0\n", Python);
    s.max_lines = 3;
    assert_eq!(s.finish("f(\n1,\n2,\n3,\n)"), "f(\n1,\n2,");
}

#[test]
fn comments_the_model_adds_after_code_are_cut_unless_the_file_has_them() {
    use Language::*;
    let plain = "class A {\n    f(xs: number[]) {\n        let total = 0;\n        for (const x of xs) {\n            $0\n        }\n    }\n}\n";
    let s = shape(plain, TypeScript);
    assert_eq!(
        s.finish("total += x * x; // x * x is x squared"),
        "total += x * x;"
    );
    // A comment line of its own stays; so does `//` in a string.
    assert_eq!(
        s.finish("// square it\n            total += x * x;"),
        "// square it\n            total += x * x;"
    );
    assert_eq!(s.finish("log(\"a // b\");"), "log(\"a // b\");");
    // The file writes comments after code: the model's stay.
    let commented = plain.replace("let total = 0;", "let total = 0; // running sum");
    assert_eq!(
        shape(&commented, TypeScript).finish("total += x * x; // square"),
        "total += x * x; // square"
    );
    let py = shape("def f(xs):\n    $0\n", Python);
    assert_eq!(py.finish("return sum(xs)  # add them up"), "return sum(xs)");
}

/// After an opening bracket at a line's end the answer may run over lines (the
/// arguments of a call), but a first line that closes it is the whole statement.
#[test]
fn a_line_that_closes_the_cursors_bracket_is_the_answer() {
    use Language::*;
    let ts = "function f(stops: Stop[]): number {\n  let best = 0;\n  for (let i = 1; i < stops.length; i++) {\n    best = Math.max($0\n\nexport function g() {}\n";
    let s = shape(ts, TypeScript);
    let raw = "best, distanceBetween(stops[i - 1].at, stops[i].at));\n  }\n  return best;\n}\n";
    assert!(s.should_stop("best, distanceBetween(stops[i - 1].at, stops[i].at));\n"));
    assert_eq!(
        s.finish(raw),
        "best, distanceBetween(stops[i - 1].at, stops[i].at));"
    );
    // Arguments over several lines go on to the closing bracket.
    let args = shape("const x = g($0\n", TypeScript);
    assert_eq!(
        args.finish("\n  1,\n  2,\n);\nreturn x;\n"),
        "\n  1,\n  2,\n);"
    );
    // A body the first line opens is written.
    let js = shape("items.forEach($0\n", JavaScript);
    assert_eq!(
        js.finish("(x) => {\n  total += x;\n});\n"),
        "(x) => {\n  total += x;\n});"
    );
}

#[test]
fn overlap_trimming() {
    assert_eq!(trim_overlap("a)", ")"), "a");
    assert_eq!(trim_overlap("a)", "):"), "a");
    assert_eq!(trim_overlap("abc", ""), "abc");
    assert_eq!(trim_overlap("x", ")"), "x");
    // An auto-closed bracket the completion closes, then ends its statement.
    assert_eq!(trim_overlap("best, f(a, b));", ")"), "best, f(a, b)");
    assert_eq!(trim_overlap("xs[i]];", "]"), "xs[i]");
}
