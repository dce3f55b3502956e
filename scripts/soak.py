#!/usr/bin/env python3
"""Hostile input and a soak for `quill serve`, from outside, as an editor would talk to it.

    scripts/soak.py [--quill target/release/quill] [--model NAME] [--edits 3000]

First the hostile rows (each followed by a request that must be answered): a header with
bytes that are not UTF-8, a frame without Content-Length, a change inside a UTF-16
surrogate pair, lone CR line breaks, a message over 64 MiB, 100,000 nested brackets, a
request for a `$/` method. Then the soak: EDITS single-character edits typed into a file
with an inline completion request after every few and a cancellation of every other
one; resident memory and open files are printed at the start and the end. Exits non-zero
if the server stops answering or exits.
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import queue


class Client:
    def __init__(self, cmd):
        # QUILL_STDERR=FILE keeps the server's log (with QUILL_LOG=quill=debug, say).
        log = os.environ.get("QUILL_STDERR")
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=open(log, "w") if log else subprocess.DEVNULL)
        self.next_id = 1
        self.msgs = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.p.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.msgs.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.msgs.put(json.loads(out.read(length)))

    def raw(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def send(self, msg):
        body = json.dumps(msg).encode()
        self.raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def start(self, method, params):
        i = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": i, "method": method, "params": params})
        return i

    def wait(self, i, timeout=600):
        end = time.time() + timeout
        while time.time() < end:
            try:
                m = self.msgs.get(timeout=1)
            except queue.Empty:
                continue
            if m is None:
                sys.exit(f"FAIL: the server exited (rc {self.p.poll()})")
            if m.get("id") == i and "method" not in m:
                return m
            if "method" in m and "id" in m:  # a request from the server: accept it
                self.send({"jsonrpc": "2.0", "id": m["id"], "result": None})
        sys.exit(f"FAIL: request {i} was never answered")

    def request(self, method, params):
        return self.wait(self.start(method, params))


def rss_and_fds(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) // 1024
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quill", default="target/release/quill")
    ap.add_argument("--model", default="qwen2.5-coder-0.5b-instruct-q4_k_m")
    ap.add_argument("--edits", type=int, default=3000)
    a = ap.parse_args()
    c = Client([a.quill, "serve"])
    c.request("initialize", {"processId": None, "rootUri": "file:///tmp",
                             "capabilities": {"textDocument": {"inlineCompletion": {}}},
                             "initializationOptions": {"model": a.model}})
    c.notify("initialized", {})
    while not c.request("quill/status", None)["result"]["state"] == "ready":
        time.sleep(0.2)

    def alive(what):
        r = c.request("quill/status", None)
        assert "result" in r, r
        print(f"ok    {what}")

    def inline(uri, line, ch):
        return c.request("textDocument/inlineCompletion", {
            "textDocument": {"uri": uri}, "position": {"line": line, "character": ch},
            "context": {"triggerKind": 2}})

    c.raw(b"X-\xff\xfe: y\r\nContent-Length: 2\r\n\r\n{}")
    alive("a header with bytes that are not UTF-8")
    c.raw(b"Content-Type: x\r\n\r\n{}")
    alive("a frame without Content-Length")
    c.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file:///tmp/s.py", "languageId": "python", "version": 1,
        "text": "s = '\U0001F600\U0001F600'\nx = 1\n"}})
    c.notify("textDocument/didChange", {"textDocument": {"uri": "file:///tmp/s.py", "version": 2},
             "contentChanges": [{"range": {"start": {"line": 0, "character": 6},
                                           "end": {"line": 0, "character": 6}}, "text": "a"}]})
    r = inline("file:///tmp/s.py", 0, 6)
    assert "panicked" not in json.dumps(r), r
    alive("a change inside a surrogate pair, then a completion there")
    c.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file:///tmp/cr.py", "languageId": "python", "version": 1,
        "text": "import os\rdef f():\r    \rprint(f())\r"}})
    r = inline("file:///tmp/cr.py", 2, 4)
    assert "error" not in r, r
    alive("lone CR line breaks, a completion on line 3")
    c.raw(b"Content-Length: %d\r\n\r\n" % (65 << 20) + b" " * (65 << 20))
    alive("a message over 64 MiB")
    c.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file:///tmp/deep.py", "languageId": "python", "version": 1,
        "text": "x = " + "[" * 100000 + "\n"}})
    inline("file:///tmp/deep.py", 0, 4)
    alive("100,000 nested brackets")
    r = c.request("$/x", {})
    assert "error" in r, r
    alive("a request for a $/ method")

    text = "def f(x):\n    return x\n\n"
    c.notify("textDocument/didOpen", {"textDocument": {
        "uri": "file:///tmp/soak.py", "languageId": "python", "version": 1, "text": text}})
    typed = "def g(items):\n    total = 0\n    for item in items:\n        total += item\n    return total\n\n"
    line, col, version = 3, 0, 1
    rss0, fds0 = rss_and_fds(c.p.pid)
    started = time.time()
    answered = cancelled = 0
    for n in range(a.edits):
        ch = typed[n % len(typed)]
        version += 1
        c.notify("textDocument/didChange", {"textDocument": {"uri": "file:///tmp/soak.py", "version": version},
                 "contentChanges": [{"range": {"start": {"line": line, "character": col},
                                               "end": {"line": line, "character": col}}, "text": ch}]})
        if ch == "\n":
            line, col = line + 1, 0
        else:
            col += 1
        if n % 5 == 4:
            i = c.start("textDocument/inlineCompletion", {
                "textDocument": {"uri": "file:///tmp/soak.py"},
                "position": {"line": line, "character": col}, "context": {"triggerKind": 1}})
            if n % 10 == 9:
                c.notify("$/cancelRequest", {"id": i})
                cancelled += 1
            c.wait(i)
            answered += 1
        if n % 1000 == 999:
            rss, fds = rss_and_fds(c.p.pid)
            print(f"      {n + 1} edits: rss {rss} MiB, open files {fds}")
    rss1, fds1 = rss_and_fds(c.p.pid)
    print(f"soak: {a.edits} edits, {answered} requests answered ({cancelled} cancelled) "
          f"in {time.time() - started:.0f} s; rss {rss0} -> {rss1} MiB, open files {fds0} -> {fds1}")
    c.request("shutdown", None)
    c.notify("exit", None)
    c.p.wait(timeout=30)


if __name__ == "__main__":
    main()
