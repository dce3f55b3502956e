#!/usr/bin/env python3
"""Typing with pauses, against `quill serve` over stdio with the 0.5B model: type a
character, pause PAUSE_MS (the server's warm-up starts after 400 ms), type one more and ask
for an inline completion at once; ROUNDS times. Prints p50/p95/mean of the latency, of the
prompt tokens the request had to decode and of its prompt time (from `quill/status`). The
suggestion cache, prefetch and first-line answers are off and answers capped at 24 tokens,
so what is measured is the prompt work in front of each request.

    scripts/bench_pauses.py target/release/quill 700 12

With a fourth argument WORDS, a typing session instead: about 1,300 characters of code
typed a word at a time (30 ms between keys), asking after each word (8-token answers),
with a pause of PAUSE_MS after every WORDS words. It also counts the requests that had to
read more than 100 prompt tokens (a moved suffix read again when too much changed in
front of it; a pause now decodes it again beforehand).

    scripts/bench_pauses.py target/release/quill 1500 0 8
"""
import os, sys, time, json
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soak import Client

quill, pause, rounds = sys.argv[1], int(sys.argv[2]) / 1000, int(sys.argv[3])
words_between = int(sys.argv[4]) if len(sys.argv) > 4 else 0
text = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benches", "data", "report.py")).read()
# A cursor in the middle of the file, at the end of an empty line we type on.
anchor = text.index("\ndef ", len(text) // 2)
doc = text[:anchor] + "\n\ndef helper(values):\n    " + text[anchor:]
cursor = anchor + len("\n\ndef helper(values):\n    ")
c = Client([quill, "serve"])
c.request("initialize", {"processId": None, "rootUri": "file:///tmp",
    "capabilities": {"textDocument": {"inlineCompletion": {}}},
    "initializationOptions": {"model": "qwen2.5-coder-0.5b-instruct-q4_k_m",
                              "experiments": {"suggestionCache": False}, "prefetch": False, "firstLine": False, "maxTokens": 8 if words_between else 24}})
c.notify("initialized", {})
while c.request("quill/status", None)["result"]["state"] != "ready":
    time.sleep(0.2)
uri = "file:///tmp/report.py"
c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": doc}})
version = 1
def pos(off):
    line = doc.count("\n", 0, off)
    return line, off - (doc.rfind("\n", 0, off) + 1)
def typ(ch):
    global doc, cursor, version
    l, col = pos(cursor)
    version += 1
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": {"line": l, "character": col}, "end": {"line": l, "character": col}}, "text": ch}]})
    doc = doc[:cursor] + ch + doc[cursor:]
    cursor += len(ch)
def ask():
    l, col = pos(cursor)
    t = time.time()
    r = c.request("textDocument/inlineCompletion", {"textDocument": {"uri": uri},
        "position": {"line": l, "character": col}, "context": {"triggerKind": 2}})
    ms = (time.time() - t) * 1000
    last = c.request("quill/status", None)["result"].get("lastCompletion") or {}
    return ms, last.get("evaluated_tokens", 0), last.get("prompt_ms", 0)
ask(); ask()  # cold prompt, then warm
word = "total = sum(v for v in values if v) and len(values) or 0 ".replace(" ", "_")
rows = []
for i in range(rounds):
    typ(word[(2 * i) % len(word)])
    time.sleep(pause)
    typ(word[(2 * i + 1) % len(word)])
    rows.append(ask())
session = """total = sum(v for v in values if v)
    count = len([v for v in values if v])
    average = total / count if count else 0.0
    largest = max(values, default=0.0)
    smallest = min(values, default=0.0)
    spread = largest - smallest
    above = [v for v in values if v > average]
    below = [v for v in values if v < average]
    ratio = len(above) / len(below) if below else float("inf")
    report = {"total": total, "count": count, "average": average}
    report.update({"largest": largest, "smallest": smallest, "spread": spread})
    report.update({"above": len(above), "below": len(below), "ratio": ratio})
    for key, value in sorted(report.items()):
        print(f"{key:>10}: {value}")
    median = sorted(values)[len(values) // 2] if values else 0.0
    return report, median
""" if words_between else ""
for n, w in enumerate(session.replace(" ", " \0").split("\0")):
    for ch in w:
        typ(ch)
        time.sleep(0.03)
    rows.append(ask())
    if (n + 1) % max(words_between, 1) == 0:
        time.sleep(pause)
def stats(xs):
    xs = sorted(xs)
    p = lambda q: xs[min(len(xs) - 1, int(q * len(xs)))]
    return {"p50": round(p(0.5)), "p95": round(p(0.95)), "mean": round(sum(xs) / len(xs))}
print(json.dumps({"quill": quill.split("-")[-1], "pause_ms": pause * 1000, "n": len(rows),
    "latency": stats([r[0] for r in rows]), "evaluated_tokens": stats([r[1] for r in rows]),
    "prompt_ms": stats([r[2] for r in rows]),
    "read_again": [r[1] for r in rows if r[1] > 100]}))
c.request("shutdown", None)
