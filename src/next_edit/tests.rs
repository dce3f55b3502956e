use super::*;

/// `text` with `from` replaced by `to` at the `nth` (0-based) place it occurs, typed the way a
/// user does it: the old name deleted, then the new one letter by letter (one `didChange`
/// each), recorded in `history`.
fn type_over(history: &mut History, text: &str, from: &str, nth: usize, to: &str) -> String {
    let at = text.match_indices(from).nth(nth).expect("place").0;
    let mut cur = text.to_string();
    let mut next = cur.clone();
    next.replace_range(at..at + from.len(), "");
    history.record(&cur, &next);
    cur = next;
    for (i, c) in to.char_indices() {
        let mut next = cur.clone();
        next.insert(at + i, c);
        history.record(&cur, &next);
        cur = next;
    }
    cur
}

fn propose(lang: Language, text: &str, history: &History) -> Option<(String, NextEdit)> {
    let tree = crate::syntax::parse(lang, text, None).unwrap();
    let e = suggest(lang, text, &tree, history, &mut |_| None)?;
    Some((apply(text, &e), e))
}

#[test]
fn typing_a_name_is_one_hunk() {
    let mut h = History::default();
    let text = "def f(count):\n    return count\n";
    let now = type_over(&mut h, text, "count", 0, "total");
    assert_eq!(h.hunks().count(), 1);
    let last = h.last().unwrap();
    assert_eq!((last.old.as_str(), last.new.as_str()), ("count", "total"));
    assert_eq!(&now[last.range()], "total");
}

#[test]
fn an_edit_before_an_older_hunk_moves_it_and_one_over_it_drops_it() {
    let mut h = History::default();
    let a = "x = 1\ny = 2\n";
    let b = "x = 10\ny = 2\n";
    h.record(a, b);
    let c = "x = 10\ny = 2\nz = 3\n";
    h.record(b, c);
    let d = "# hi\nx = 10\ny = 2\nz = 3\n";
    h.record(c, d);
    let hunks: Vec<_> = h.hunks().cloned().collect();
    assert_eq!(hunks.len(), 3);
    for hk in &hunks {
        assert_eq!(&d[hk.range()], hk.new, "{hk:?}");
    }
    // Retyping the first hunk's place drops it; the new edit is the last.
    let e = d.replace("x = 10", "x = 7");
    h.record(d, &e);
    assert_eq!(h.hunks().count(), 3);
    assert_eq!(h.last().unwrap().new, "7");
    assert!(h.hunks().all(|hk| e[hk.range()] == hk.new));
}

#[test]
fn a_renamed_parameter_proposes_its_next_use_then_the_one_after() {
    let src = "def f(count, n):\n    if count > n:\n        return count\n    return 0\n\ndef g(count):\n    return count\n";
    let mut h = History::default();
    let text = type_over(&mut h, src, "count", 0, "total");
    let (after, e) = propose(Language::Python, &text, &h).unwrap();
    assert_eq!(e.kind, Kind::Rename);
    assert_eq!(e.remaining, 1, "g's count is another name: {e:?}");
    assert!(
        after.contains("if total > n:\n        return count"),
        "{after}"
    );
    // Accepting it is an edit like any other: the next one follows.
    h.record(&text, &after);
    let (after, e) = propose(Language::Python, &after, &h).unwrap();
    assert_eq!(e.remaining, 0);
    assert!(after.starts_with("def f(total, n):\n    if total > n:\n        return total\n"));
    assert!(after.ends_with("def g(count):\n    return count\n"));
    h.record(&text, &after);
    assert_eq!(propose(Language::Python, &after, &h), None);
}

#[test]
fn a_renamed_function_proposes_its_calls_anywhere_in_the_file() {
    let src = "fn area(w: u32) -> u32 {\n    w * w\n}\n\nfn main() {\n    let a = area(2);\n    println!(\"{}\", area(a));\n}\n";
    let mut h = History::default();
    let text = type_over(&mut h, src, "area", 0, "square");
    let (after, e) = propose(Language::Rust, &text, &h).unwrap();
    assert_eq!(e.remaining, 1);
    assert!(after.contains("let a = square(2);"), "{after}");
}

#[test]
fn a_member_renames_only_after_the_same_object() {
    let src = "class C:\n    def __init__(self):\n        self.count = 0\n\n    def add(self, items):\n        self.count += items.count(1)\n        return self.count\n";
    let mut h = History::default();
    let text = type_over(&mut h, src, "count", 0, "total");
    let (after, e) = propose(Language::Python, &text, &h).unwrap();
    assert_eq!(e.remaining, 1, "items.count is not self.count: {e:?}");
    assert!(after.contains("self.total += items.count(1)"), "{after}");
}

#[test]
fn typescript_and_go_locals() {
    let ts = "function f(xs: number[]) {\n  let sum = 0;\n  for (const x of xs) { sum += x; }\n  return sum;\n}\n";
    let mut h = History::default();
    let text = type_over(&mut h, ts, "sum", 0, "total");
    let (after, _) = propose(Language::TypeScript, &text, &h).unwrap();
    assert!(after.contains("{ total += x; }"), "{after}");
    let go = "package m\n\nfunc f(xs []int) int {\n\tsum := 0\n\tfor _, x := range xs {\n\t\tsum += x\n\t}\n\treturn sum\n}\n";
    let mut h = History::default();
    let text = type_over(&mut h, go, "sum", 0, "total");
    let (after, _) = propose(Language::Go, &text, &h).unwrap();
    assert!(after.contains("\t\ttotal += x\n"), "{after}");
}

#[test]
fn a_constructor_is_the_scope_of_its_parameters() {
    // Java and C# constructors are not `function` or `method` nodes: a parameter renamed in
    // one must not reach the other's.
    let java = "class E {\n  E(String s, int cause) {\n    super(s, cause);\n  }\n  E(int cause) {\n    this(\"\", cause);\n  }\n}\n";
    let mut h = History::default();
    let text = type_over(&mut h, java, "cause", 0, "why");
    let (after, e) = propose(Language::Java, &text, &h).unwrap();
    assert_eq!(e.remaining, 0, "{after}");
    assert!(
        after.contains("super(s, why);") && after.contains("this(\"\", cause);"),
        "{after}"
    );
    let cs = java
        .replace("class E", "class E : X")
        .replace("super(s, cause)", "Use(s, cause)");
    let cs = cs
        .replace("E(String", "public E(string")
        .replace("this(\"\", cause)", "Use(cause)");
    let mut h = History::default();
    let text = type_over(&mut h, &cs, "cause", 0, "why");
    let (after, e) = propose(Language::CSharp, &text, &h).unwrap();
    assert_eq!(e.remaining, 0, "{after}");
    assert!(
        after.contains("Use(s, why);") && after.contains("Use(cause);"),
        "{after}"
    );
}

#[test]
fn nothing_when_the_edit_is_not_a_rename() {
    // A use changed to another name that exists: a fix of that use.
    let src = "def f(a, b):\n    x = a + 1\n    return a * 2\n";
    let mut h = History::default();
    let text = type_over(&mut h, src, "a", 2, "b");
    assert_eq!(propose(Language::Python, &text, &h), None);
    // A number, a string, a keyword.
    let mut h = History::default();
    let text = type_over(&mut h, src, "1", 0, "2");
    assert_eq!(propose(Language::Python, &text, &h), None);
    let src2 = "def f(a):\n    s = \"a b\"\n    return a\n";
    let mut h = History::default();
    let text = type_over(&mut h, src2, "a b", 0, "c b");
    assert_eq!(propose(Language::Python, &text, &h), None);
    // A whole new line typed.
    let mut h = History::default();
    let with = src.replace("    return", "    y = a\n    return");
    h.record(src, &with);
    assert_eq!(propose(Language::Python, &with, &h), None);
}

#[test]
fn words_in_strings_and_comments_are_not_places() {
    let src = "def f(count):\n    # count the things\n    print(\"count\", count)\n";
    let mut h = History::default();
    let text = type_over(&mut h, src, "count", 0, "total");
    let (after, e) = propose(Language::Python, &text, &h).unwrap();
    assert_eq!(e.remaining, 0);
    assert!(
        after.ends_with("    # count the things\n    print(\"count\", total)\n"),
        "{after}"
    );
}

#[test]
fn a_large_change_is_not_kept_and_clears_the_history() {
    let mut h = History::default();
    h.record("x = 1\n", "x = 2\n");
    assert_eq!(h.hunks().count(), 1);
    let big = format!("x = 2\n{}", "y = 3\n".repeat(2000));
    h.record("x = 2\n", &big);
    assert_eq!(h.hunks().count(), 0);
}

/// A parameter typed into a definition: each call that passes the old number of arguments
/// is asked for, the model answering at its `)`.
fn add_parameter(
    lang: Language,
    src: &str,
    after: &str,
    param: &str,
    answer: &str,
) -> Option<String> {
    let at = src.find(after).expect("place") + after.len();
    let mut h = History::default();
    let mut cur = src.to_string();
    for (i, c) in param.char_indices() {
        let mut next = cur.clone();
        next.insert(at + i, c);
        h.record(&cur, &next);
        cur = next;
    }
    let tree = crate::syntax::parse(lang, &cur, None).unwrap();
    let mut asked = Vec::new();
    let e = suggest(lang, &cur, &tree, &h, &mut |ask| {
        asked.push(cur[..ask.offset].to_string());
        // The definition as it is now, on one line, for the model.
        assert!(
            ask.definition.ends_with(&format!("{param})")),
            "{}",
            ask.definition
        );
        Some(answer.to_string())
    })?;
    assert_eq!(e.kind, Kind::Argument);
    assert_eq!(asked.len(), 1);
    Some(apply(&cur, &e))
}

#[test]
fn an_added_parameter_asks_the_model_at_the_next_call() {
    let py = "def area(w, h):\n    return w * h\n\nclass S:\n    def size(self, n):\n        return area(n, n)\n\nprint(area(2, 3))\n";
    let out = add_parameter(Language::Python, py, "def area(w, h", ", scale", ", 2)\n").unwrap();
    let nested = add_parameter(
        Language::Python,
        py,
        "def area(w, h",
        ", scale",
        ", f(1, [2, 3]), \"a,b\"",
    )
    .map(|_| ());
    assert_eq!(nested, None, "two arguments");
    // In a call that passes arguments by position, a keyword answer is written by position.
    let kw = add_parameter(
        Language::Python,
        py,
        "def area(w, h",
        ", scale",
        ", scale=2",
    )
    .unwrap();
    assert!(kw.contains("area(n, n, 2)"), "{kw}");
    let eq = add_parameter(Language::Python, py, "def area(w, h", ", scale", ", n == 2").unwrap();
    assert!(eq.contains("area(n, n, n == 2)"), "{eq}");
    let one = add_parameter(
        Language::Python,
        py,
        "def area(w, h",
        ", scale",
        ", f(1, [2, 3])",
    )
    .unwrap();
    assert!(one.contains("area(n, n, f(1, [2, 3]))"), "{one}");
    assert!(out.contains("return area(n, n, 2)\n"), "{out}");
    assert!(out.contains("print(area(2, 3))"), "one at a time: {out}");
    // A method: `self` is not passed.
    let py = "class S:\n    def grow(self, n):\n        return n\n\n    def run(self):\n        return self.grow(1)\n";
    let out = add_parameter(Language::Python, py, "def grow(self, n", ", by", ", 2").unwrap();
    assert!(out.ends_with("return self.grow(1, 2)\n"), "{out}");
    let rs = "fn area(w: u32) -> u32 {\n    w * w\n}\n\nfn main() {\n    let a = area(2);\n}\n";
    let out = add_parameter(Language::Rust, rs, "fn area(w: u32", ", h: u32", ", 3);").unwrap();
    assert!(out.contains("let a = area(2, 3);"), "{out}");
    let ts = "function area(w: number) {\n  return w * w;\n}\nconst a = area(2);\n";
    let out = add_parameter(
        Language::TypeScript,
        ts,
        "function area(w: number",
        ", h: number",
        ", 3",
    )
    .unwrap();
    assert!(out.contains("const a = area(2, 3);"), "{out}");
}

#[test]
fn an_added_parameter_refuses_answers_that_are_not_an_argument() {
    let py = "def area(w, h):\n    return w * h\n\nprint(area(2, 3))\n";
    for answer in ["", ")", "\n    x = 1", "2", " + 1", ", 2, 3"] {
        assert_eq!(
            add_parameter(Language::Python, py, "def area(w, h", ", scale", answer),
            None,
            "{answer:?}"
        );
    }
    // Calls already updated are not asked about.
    let done = "def area(w, h, scale):\n    return w * h\n\nprint(area(2, 3, 1))\n";
    let mut h = History::default();
    let before = done.replace(", scale", "");
    h.record(&before, done);
    let tree = crate::syntax::parse(Language::Python, done, None).unwrap();
    assert_eq!(
        suggest(Language::Python, done, &tree, &h, &mut |_| panic!("asked")),
        None
    );
}

#[test]
fn an_unrelated_edit_after_a_rename_keeps_its_places() {
    let src = "def f(count):\n    # the count\n    return count + count\n";
    let mut h = History::default();
    let text = type_over(&mut h, src, "count", 0, "total");
    // A word of the comment changed: not a rename (a comment), and not the end of this one.
    let text2 = type_over(&mut h, &text, "the", 0, "a");
    let (after, e) = propose(Language::Python, &text2, &h).unwrap();
    assert_eq!(e.remaining, 1);
    assert!(
        after.ends_with("    # a count\n    return total + count\n"),
        "{after}"
    );
}

/// Each proposal of `suggest` taken in turn (recorded as the user's edit), the model
/// answering `answer`: the kinds proposed and the text at the end.
fn take_all(
    lang: Language,
    mut text: String,
    h: &mut History,
    answer: &str,
) -> (Vec<Kind>, String) {
    let mut kinds = Vec::new();
    for _ in 0..6 {
        let tree = crate::syntax::parse(lang, &text, None).unwrap();
        let Some(e) = suggest(lang, &text, &tree, h, &mut |_| Some(answer.to_string())) else {
            break;
        };
        kinds.push(e.kind);
        let next = apply(&text, &e);
        h.record(&text, &next);
        text = next;
    }
    (kinds, text)
}

#[test]
fn a_constructor_s_new_parameter_is_stored_then_passed_at_each_construction() {
    let py = "class P:\n    def __init__(self, name, age):\n        self.name = name\n        self.age = age\n\n\nalice = P(\"a\", 3)\nbob = P(\"b\", 4)\n";
    let mut h = History::default();
    let typed = type_over(&mut h, py, "age)", 0, "age, email)");
    let (kinds, out) = take_all(Language::Python, typed, &mut h, ", None)");
    assert_eq!(
        kinds,
        [Kind::Field, Kind::Argument, Kind::Argument],
        "{out}"
    );
    assert!(
        out.contains("        self.age = age\n        self.email = email\n"),
        "{out}"
    );
    assert!(
        out.contains("P(\"a\", 3, None)") && out.contains("P(\"b\", 4, None)"),
        "{out}"
    );
    let ts = "class P {\n  constructor(name: string) {\n    this.name = name;\n  }\n}\nconst p = new P(\"a\");\n";
    let mut h = History::default();
    let typed = type_over(&mut h, ts, "name: string)", 0, "name: string, age: number)");
    let (kinds, out) = take_all(Language::TypeScript, typed, &mut h, ", 3);");
    assert_eq!(kinds, [Kind::Field, Kind::Argument], "{out}");
    assert!(
        out.contains("    this.name = name;\n    this.age = age;\n"),
        "{out}"
    );
    assert!(out.contains("new P(\"a\", 3)"), "{out}");
    let java = "class P {\n  P(String name) {\n    this.name = name;\n  }\n  static P make() { return new P(\"a\"); }\n}\n";
    let mut h = History::default();
    let typed = type_over(&mut h, java, "String name)", 0, "String name, int age)");
    let (kinds, out) = take_all(Language::Java, typed, &mut h, ", 3); }");
    assert_eq!(kinds, [Kind::Field, Kind::Argument], "{out}");
    assert!(out.contains("new P(\"a\", 3)"), "{out}");
}

#[test]
fn a_new_field_walks_the_constructor_its_store_and_each_call() {
    let rs = "struct P {\n    name: String,\n    age: u32,\n}\n\nimpl P {\n    fn new(name: String, age: u32) -> Self {\n        Self { name, age }\n    }\n}\n\nfn main() {\n    let p = P::new(\"a\".into(), 3);\n}\n";
    let at = rs.find("age: u32,\n").unwrap() + "age: u32,\n".len();
    let mut typed = rs.to_string();
    let mut h = History::default();
    for (i, c) in "    email: String,\n".char_indices() {
        let mut next = typed.clone();
        next.insert(at + i, c);
        h.record(&typed, &next);
        typed = next;
    }
    let (kinds, out) = take_all(Language::Rust, typed, &mut h, ", String::new());");
    assert_eq!(kinds, [Kind::Field, Kind::Field, Kind::Argument], "{out}");
    assert!(out.contains("fn new(name: String, age: u32, email: String) -> Self {\n        Self { name, age, email }"), "{out}");
    assert!(
        out.contains("P::new(\"a\".into(), 3, String::new())"),
        "{out}"
    );
}
