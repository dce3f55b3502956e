#!/usr/bin/env python3
"""End-to-end tests of quill's VS Code extension in a real VS Code (code-server), driven
through headless Chromium with Playwright. Run by run.sh, which installs what this needs.

Every check reads what the workbench shows: ghost text (the editor's `.ghost-text-decoration`
spans), the editor's lines, the inline suggestion toolbar (`1/3`), the status bar item, its
hover, notifications, the explanation panel (a webview). Waits are generous (the model runs
on a CPU that may be busy) and poll for a condition; no check measures time.

Tests (in this order; any subset by name, setup always runs):
  install   no server anywhere: the extension says there is no release to download yet
  start     status bar: starting/loading, then the model, ready
  ghost     typing shows ghost text; Tab accepts it (the editor and the saved file change)
  word      Ctrl+Right accepts one word of it, the rest stays
  manual    inlineTrigger manual (settings.json while running): typing shows none, Alt+\\ asks
  grow      timeBudgetMs: partial ghost text, then the whole line in its place
  cycle     quill.candidates = 3 set in the Settings UI reaches the server: 1/3, Alt+] another
  timings   the status bar's hover shows the last completion's timings
  explain   code action "Explain this code": the answer in the side panel
  fix       code action "Fix this code": the fix applied to the file
  down      the server dies and cannot start: "quill: down"; Restart Server brings it back
  backend   quill.backend that does not answer: "quill: backend down", then back
  nextedit  a parameter renamed at its definition (typed): the next-edit marker at the next use;
            Escape dismisses it, quill: Suggest Next Edit brings it back; Tab goes there, Tab
            applies it; the last use the same way; the saved file has every use renamed
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
WAIT = 300  # seconds to wait for anything the model does (a busy 2-core machine is slow)
UI_WAIT = 60  # seconds for the workbench to react
EXT_ID = "quill.quill-vscode"
VERBOSE = os.environ.get("QUILL_E2E_VERBOSE") == "1"

ORDER = ["install", "start", "ghost", "word", "manual", "grow", "cycle", "timings", "explain", "fix", "down",
         "backend", "nextedit"]


class Failure(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def vlog(msg):
    if VERBOSE:
        log("    " + msg)


# ---- what the page shows (JavaScript run in the workbench) ---------------------------------

# Installed before the workbench loads: records every text the quill status bar item and the
# ghost text take, in order, so that short states (loading, a partial suggestion) are seen
# however fast they pass.
RECORDER_JS = r"""
(() => {
  const q = window.__quill = { status: [], ghost: [] };
  const statusText = () => {
    const s = document.getElementById('quill.quill-vscode');
    if (!s) return null;
    const icon = [...s.querySelectorAll('.codicon')].map(i => [...i.classList].find(c => c.startsWith('codicon-') && c !== 'codicon-modifier-spin')).filter(Boolean)[0];
    return (icon ? '$(' + icon.slice(8) + ') ' : '') + s.innerText.replace(/\u00a0/g, ' ').trim();
  };
  const ghostText = () => [...document.querySelectorAll('.part.editor .ghost-text-decoration, .part.editor .ghost-text-decoration-preview')]
    .map(e => e.textContent).join('').replace(/\u00a0/g, ' ');
  q.statusText = statusText;
  q.ghostText = ghostText;
  const push = (a, v) => { if (v !== null && a[a.length - 1] !== v) a.push(v); };
  const rec = () => { push(q.status, statusText()); push(q.ghost, ghostText()); };
  new MutationObserver(rec).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""

# The text editor of stats.py: {line number: text}, ghost text left out, for the lines drawn.
EDITOR_LINES_JS = r"""
() => {
  const eds = [...document.querySelectorAll('.part.editor .monaco-editor')].filter(e => e.querySelector('.margin .line-numbers'));
  const ed = eds.find(e => (e.getAttribute('data-uri') || '').endsWith('stats.py')) || eds[0];
  if (!ed) return null;
  const numbers = {};
  for (const n of ed.querySelectorAll('.margin-view-overlays > div')) {
    const ln = n.querySelector('.line-numbers');
    if (ln) numbers[parseFloat(n.style.top)] = parseInt(ln.textContent, 10);
  }
  const out = {};
  for (const l of ed.querySelectorAll('.view-lines > .view-line')) {
    const c = l.cloneNode(true);
    c.querySelectorAll('[class*="ghost-text"]').forEach(g => g.remove());
    const n = numbers[parseFloat(l.style.top)];
    if (n) out[n] = c.textContent.replace(/\u00a0/g, ' ');
  }
  return out;
}
"""


# The next-edit decorations in the stats.py editor: [{line, kind, text}], `old` for text drawn
# struck through (the target), `after` for the text a decoration draws after a range (CSS
# ::after content: " → nums  ⇥ Tab" at the target, "⇥ Tab: …" at the end of the cursor line).
NEXT_EDIT_MARKERS_JS = r"""
() => {
  const eds = [...document.querySelectorAll('.part.editor .monaco-editor')].filter(e => e.querySelector('.margin .line-numbers'));
  const ed = eds.find(e => (e.getAttribute('data-uri') || '').endsWith('stats.py')) || eds[0];
  if (!ed) return null;
  const numbers = {};
  for (const n of ed.querySelectorAll('.margin-view-overlays > div')) {
    const ln = n.querySelector('.line-numbers');
    if (ln) numbers[parseFloat(n.style.top)] = parseInt(ln.textContent, 10);
  }
  const out = [];
  for (const l of ed.querySelectorAll('.view-lines > .view-line')) {
    const line = numbers[parseFloat(l.style.top)];
    for (const s of l.querySelectorAll('span')) {
      if (s.children.length === 0 && getComputedStyle(s).textDecorationLine.includes('line-through')) {
        out.push({ line, kind: 'old', text: s.textContent.replace(/\u00a0/g, ' ') });
      }
      const after = getComputedStyle(s, '::after').content;
      if (after && after !== 'none' && after !== 'normal' && /Tab/.test(after)) {
        out.push({ line, kind: 'after', text: after.replace(/^"|"$/g, '').replace(/\u00a0/g, ' ') });
      }
    }
  }
  return out;
}
"""


class Workbench:
    """One code-server and the page that shows it."""

    def __init__(self, args, browser, name, settings, env_extra=None, home=None):
        self.args = args
        self.name = name
        self.root = Path(args.out) / "run" / name
        shutil.rmtree(self.root, ignore_errors=True)
        self.ws = self.root / "ws"
        self.ud = self.root / "user-data"
        self.exts = self.root / "extensions"
        for d in (self.ws, self.ud / "User", self.exts):
            d.mkdir(parents=True)
        shutil.copy(HERE / "fixtures" / "stats.py", self.ws / "stats.py")
        self.settings_path = self.ud / "User" / "settings.json"
        self.write_settings(settings)
        # quill.path is machine-overridable: a remote window (code-server is one) may take it
        # only from the remote machine's settings, so it goes there too.
        if "quill.path" in settings:
            (self.ud / "Machine").mkdir()
            (self.ud / "Machine" / "settings.json").write_text(json.dumps({"quill.path": settings["quill.path"]}) + "\n")
        (self.root / "config.yaml").write_text("auth: none\n")
        env = dict(os.environ)
        env["PATH"] = str(Path(args.node).parent) + os.pathsep + env["PATH"]
        if home:
            env["HOME"] = str(home)
        env.pop("QUILL_RELEASE_URL", None)
        env.update(env_extra or {})
        self.env = env
        common = ["--config", str(self.root / "config.yaml"), "--user-data-dir", str(self.ud),
                  "--extensions-dir", str(self.exts)]
        r = subprocess.run([args.node, args.code_server, *common, "--install-extension", args.vsix],
                           env=env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0 or not list(self.exts.glob(EXT_ID + "-*")):
            raise Failure(f"installing {args.vsix} failed: {r.stdout}{r.stderr}")
        self.port = free_port()
        self.log_file = open(self.root / "code-server.log", "w")
        self.proc = subprocess.Popen(
            [args.node, args.code_server, *common, "--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}",
             "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
             # Verbose: log channels at Trace, so the quill channel shows the LSP messages.
             *(["--log", "trace"] if VERBOSE else []), str(self.ws)],
            env=env, stdout=self.log_file, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{self.port}/?folder={self.ws}"
        wait_until(f"code-server to listen on {self.port}", lambda: http_ok(f"http://127.0.0.1:{self.port}/healthz"),
                   UI_WAIT, poll=0.3)
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.add_init_script(RECORDER_JS)
        self.page = self.context.new_page()
        self.page.goto(self.url)
        self.page.wait_for_selector(".monaco-workbench .part.statusbar", timeout=UI_WAIT * 1000)

    # -- settings.json, as the user edits it while VS Code runs

    def read_settings(self):
        try:
            return json.loads(self.settings_path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def write_settings(self, settings):
        # Written in place, as an editor saves it (VS Code's watcher follows the file).
        with open(self.settings_path, "w") as f:
            f.write(json.dumps(settings, indent=2) + "\n")

    def update_settings(self, **changes):
        """Edits settings.json as a user does while VS Code runs: opens it in VS Code
        (Preferences: Open User Settings (JSON)), replaces its text and saves it, then waits
        until the workbench has applied it: each edit also flips a ruler in the editor
        (`editor.rulers`), which the stats.py editor draws once it has the new settings.
        (A write behind VS Code's back is seen only when its file watcher reports it, which
        on a busy machine may be late.)"""
        s = self.read_settings()
        for k, v in changes.items():
            key = k.replace("__", ".")
            if v is None:
                s.pop(key, None)
            else:
                s[key] = v
        self.ruler = not getattr(self, "ruler", False)
        s["editor.rulers"] = [100] if self.ruler else []
        text = json.dumps(s)
        self.command("Preferences: Open User Settings (JSON)")
        editor = self.page.locator('.monaco-editor[data-uri$="/User/settings.json"] .view-lines').first
        editor.wait_for(state="visible", timeout=UI_WAIT * 1000)
        editor.click(position={"x": 5, "y": 5}, force=True)  # focus (a long line may scroll it)
        self.press("Escape", "Control+a", "Delete")
        self.page.keyboard.insert_text(text)
        self.press("Escape")
        tab = self.page.locator(".part.editor .tabs-container .tab", has_text="settings.json")

        def saved():
            if tab.first.get_attribute("class").split().count("dirty"):
                self.press("Control+s")
                return None
            return self.read_settings() == s
        wait_until("settings.json saved", saved, UI_WAIT, poll=1)
        self.press("Control+w")
        tab.first.wait_for(state="detached", timeout=UI_WAIT * 1000)
        self.open_stats()
        want = self.ruler
        wait_until("VS Code to apply settings.json", lambda: self.js(
            "() => document.querySelectorAll('.part.editor .monaco-editor .view-ruler').length > 0") == want
            or None, UI_WAIT)

    # -- reading the page

    def js(self, script, arg=None):
        return self.page.evaluate(script, arg)

    def status(self):
        return self.js("() => window.__quill.statusText()")

    def status_seen(self):
        return self.js("() => window.__quill.status.slice()")

    def ghost(self):
        return self.js("() => window.__quill.ghostText()")

    def ghost_seen(self):
        return self.js("() => window.__quill.ghost.slice()")

    def clear_ghost_seen(self):
        self.js("() => { window.__quill.ghost = [window.__quill.ghostText()]; }")

    def lines(self):
        return {int(k): v for k, v in (self.js(EDITOR_LINES_JS) or {}).items()}

    def line(self, n):
        return self.lines().get(n)

    def find_line(self, text):
        """The number of the first drawn line that holds `text`."""
        return next((n for n, t in sorted(self.lines().items()) if text in t), None)

    def next_edit_markers(self):
        return self.js(NEXT_EDIT_MARKERS_JS) or []

    def toasts(self):
        return self.js("""() => [...document.querySelectorAll('.notifications-toasts .notification-toast')]
            .map(t => t.innerText.replace(/\\u00a0/g, ' '))""")

    def suggestion_count(self):
        """The inline suggestion toolbar's "1/3"."""
        return self.js("""() => { const e = document.querySelector('.part.editor .inlineSuggestionsHints .availableSuggestionCount');
            return e ? e.innerText.trim() : null; }""")

    def cursor(self):
        """The status bar's "Ln 21, Col 12"."""
        return self.js("""() => { const e = document.getElementById('status.editor.selection');
            return e ? e.innerText.trim() : null; }""")

    # -- acting

    def shot(self, name):
        path = Path(self.args.out) / f"{name}.png"
        self.page.screenshot(path=str(path))
        vlog(f"screenshot {path}")
        return path

    def press(self, *keys):
        for k in keys:
            self.page.keyboard.press(k)

    def type(self, text):
        self.page.keyboard.type(text, delay=40)

    def command(self, title):
        """Runs a command from the command palette (F1) by its title. The palette is opened
        again when its row stays hidden (seen once in a full run: a key pressed while the
        palette opened left it drawn but hidden); the last try's error is raised."""
        tries = 3
        for i in range(tries):
            self.press("Escape", "Control+Shift+P")
            self.page.wait_for_selector(".quick-input-widget .quick-input-box input", state="visible",
                                        timeout=UI_WAIT * 1000)
            self.type(title)
            row = self.page.locator(".quick-input-widget .quick-input-list .monaco-list-row", has_text=title).first
            try:
                row.wait_for(state="visible", timeout=UI_WAIT * 1000 // tries)
            except Exception:
                if i + 1 == tries:
                    raise
                log(f"    the palette's row {title!r} stayed hidden: opening the palette again")
                continue
            row.click()
            return

    def open_stats(self):
        """stats.py in the editor, focused (Quick Open the first time, its tab later)."""
        tab = self.page.locator(".part.editor .tabs-container .tab", has_text="stats.py")
        if tab.count() == 0:
            self.press("Escape", "Control+p")
            self.page.wait_for_selector(".quick-input-widget .quick-input-box input", state="visible",
                                        timeout=UI_WAIT * 1000)
            self.type("stats.py")
            self.page.locator(".quick-input-widget .monaco-list-row", has_text="stats.py").first.wait_for(
                timeout=UI_WAIT * 1000)
            self.press("Enter")
        else:
            tab.first.click()
        wait_until("the stats.py editor", lambda: len(self.lines()) > 0, UI_WAIT)
        self.page.locator(".part.editor .monaco-editor .view-lines").first.click()
        self.press("Escape")

    def fresh_stats(self):
        """stats.py as the fixture has it, in the editor and on disk: written to disk, then
        File: Revert File (whatever an earlier test typed, accepted or saved is gone)."""
        fixture = (HERE / "fixtures" / "stats.py").read_text()
        (self.ws / "stats.py").write_text(fixture)
        self.open_stats()
        want = {i + 1: t for i, t in enumerate(fixture.split("\n"))}

        def same():
            self.press("Control+Home")  # every line drawn, from the first
            return self.lines() == want
        if not same():
            self.command("File: Revert File")
            wait_until("stats.py reverted to the fixture", same, UI_WAIT)
        self.page.locator(".part.editor .monaco-editor .view-lines").first.click()
        self.press("Escape")

    def goto(self, line, column=None):
        self.press("Escape", "Control+g")
        self.page.wait_for_selector(".quick-input-widget .quick-input-box input", state="visible", timeout=UI_WAIT * 1000)
        self.type(f"{line}:{column}" if column else str(line))
        self.press("Enter")
        want = f"Ln {line}, Col {column}" if column else f"Ln {line},"
        wait_until(f"the cursor at {want}", lambda: (self.cursor() or "").startswith(want), UI_WAIT)
        if not column:
            self.press("End")

    def save(self):
        self.press("Control+s")

    def disk(self):
        return (self.ws / "stats.py").read_text()

    def wait_ghost(self, what="ghost text", timeout=WAIT):
        return wait_until(what, lambda: self.ghost().strip() or None, timeout)

    def wait_ready(self, what="the status bar to show the model, ready", timeout=WAIT):
        return wait_until(what, lambda: self.status() if (self.status() or "").startswith("$(sparkle) ") else None,
                          timeout)

    def clear_notifications(self):
        self.command("Notifications: Clear All Notifications")
        self.press("Escape")

    def server_pid(self):
        try:
            return int((self.root / "server.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def close(self):
        try:
            self.context.close()
        except Exception:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except Exception:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except Exception:
                pass
        self.log_file.close()


# ---- helpers ---------------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except Exception:
        return False


def wait_until(what, fn, timeout, poll=0.25):
    """fn() until it returns something truthy (returned); Failure after `timeout` s."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = fn()
        except Failure:
            raise
        except Exception as e:  # the page may be between two states
            last = f"({type(e).__name__}: {e})"
            if time.monotonic() > deadline:
                raise Failure(f"waited {timeout} s for {what}; last: {last}")
            time.sleep(poll)
            continue
        if last:
            vlog(f"{what}: {str(last)[:120]!r}")
            return last
        if time.monotonic() > deadline:
            raise Failure(f"waited {timeout} s for {what}")
        time.sleep(poll)


def check(cond, msg, *a):
    if not cond:
        raise Failure(msg % a if a else msg)


def base_settings(args, wrapper):
    return {
        # quill: the wrapper that runs the binary under test (VS Code's extension host takes
        # PATH from a login shell, so an explicit path is what a test can rely on).
        "quill.path": str(wrapper),
        "quill.model": args.model,
        "quill.maxTokens": 32,  # short answers: the tests wait for the model less
        "quill.prefetch": False,  # no background generation between the steps
        "quill.timeBudgetMs": 0,  # whole lines, except in the "grow" test
        # QUILL_E2E_VERBOSE=1: the LSP messages in the quill output channel's log
        # (user-data/logs/*/exthost*/output_logging_*/*-quill.log), for reading a failure.
        "quill.trace.server": "verbose" if VERBOSE else "off",
        # the workbench: quiet, nothing else completing or popping up
        "workbench.startupEditor": "none",
        "workbench.editor.useModal": "off",  # settings.json and the Settings UI in a tab, not a modal editor
        "workbench.tips.enabled": False,
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "chat.disableAIFeatures": True,
        "editor.inlineSuggest.showToolbar": "always",
        "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
        "editor.suggestOnTriggerCharacters": False,
        "editor.wordBasedSuggestions": "off",
        "editor.autoClosingBrackets": "never",
        "editor.autoClosingQuotes": "never",
        "editor.minimap.enabled": False,
        "editor.lightbulb.enabled": "off",
        "files.autoSave": "off",
        "git.enabled": False,
        "git.openRepositoryInParentFolders": "never",
        "security.workspace.trust.enabled": False,
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "window.commandCenter": False,
    }


# ---- the tests -------------------------------------------------------------------------------

class Suite:
    def __init__(self, args, browser):
        self.args = args
        self.browser = browser
        self.wb = None
        self.root = Path(args.out) / "run"
        self.bin = self.root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        # A private copy of the server: the original may be rebuilt while the tests run.
        self.quill = self.bin / "quill-under-test"
        shutil.copy2(args.quill, self.quill)
        self.down_flag = self.root / "server-down"
        self.wrapper = self.bin / "quill"
        self.wrapper.write_text(
            "#!/bin/sh\n"
            "# quill for the VS Code e2e: refuses to start while the test keeps the server down.\n"
            f"if [ -e '{self.down_flag}' ]; then echo 'quill (e2e): kept down by the test' >&2; exit 1; fi\n"
            f"if [ \"$1\" = serve ]; then echo $$ > '{self.root}/main/server.pid'; fi\n"
            f"exec '{self.quill}' \"$@\"\n")
        self.wrapper.chmod(0o755)

    def main(self):
        if self.wb is None:
            self.wb = Workbench(self.args, self.browser, "main", base_settings(self.args, self.wrapper))
        return self.wb

    def close(self):
        if self.wb:
            self.wb.close()

    # -- install: no quill on PATH, none bundled or downloaded, no quill.path

    def test_install(self):
        home = self.root / "install-home"
        shutil.rmtree(home, ignore_errors=True)
        home.mkdir(parents=True)
        settings = base_settings(self.args, self.wrapper)
        del settings["quill.path"]
        wb = Workbench(self.args, self.browser, "install", settings, home=home)
        try:
            toast = wait_until("a notification about the missing server",
                               lambda: next((t for t in wb.toasts() if "not installed" in t or "not found" in t
                                             or "cannot find" in t), None), UI_WAIT * 2)
            wb.shot("install-no-server")
            log(f"    notification: {' '.join(toast.split())[:200]}")
            check("Download quill" not in toast,
                  "the extension offers a download although no release has been published: %r", toast)
            check("release" in toast and ("build" in toast.lower() or "install" in toast.lower()),
                  "the notification does not say that there is no release to download and how to install: %r", toast)
            status = wait_until("the status bar item", wb.status, UI_WAIT)
            check("quill: down" in status, "status bar %r, not 'quill: down'", status)
            # Its button opens the install instructions (the extension's README).
            btn = wb.page.locator(".notifications-toasts .notification-toast .monaco-button", has_text="How to Install")
            check(btn.count() > 0, "no 'How to Install' button on %r", toast)
            btn.first.click()
            tab = wait_until("a README tab with the install instructions", lambda: next(
                (t for t in wb.page.locator(".part.editor .tab").all_inner_texts() if "readme" in t.lower()), None), UI_WAIT)
            text = wait_until("the README's Install section in the preview", lambda: next(
                (t for t in self.webview_texts(wb) if "Install" in t and "cargo" in t), None), UI_WAIT)
            log(f"    'How to Install' opened {tab.strip()!r}: {' '.join(text.split())[:120]!r}")
            wb.shot("install-instructions")
        except Exception:
            wb.shot("FAILED-install")
            raise
        finally:
            wb.close()

    # -- start: the status bar from starting to ready

    def test_start(self):
        wb = self.main()
        ready = wb.wait_ready()
        seen = wb.status_seen()
        log(f"    status bar: {' -> '.join(seen)}")
        check(self.args.model in ready, "status bar %r does not name the model %s", ready, self.args.model)
        early = [s for s in seen if "quill: loading" in s or "quill: starting" in s]
        check(early, "the status bar never showed starting or loading before ready: %s", seen)
        check(any("quill: loading" in s for s in seen) or any("quill: starting" in s for s in seen),
              "no loading state in %s", seen)

    # -- ghost: type, see ghost text, Tab accepts it

    def test_ghost(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        wb.goto(21)  # the empty line at the end of distance()
        wb.type("    return ")
        ghost = wb.wait_ghost("ghost text after typing '    return ' in distance()")
        log(f"    ghost text: {ghost!r}")
        wb.shot("ghost-text")
        # The README's picture: the editor with the ghost text and the status bar's model.
        wb.page.screenshot(path=str(Path(self.args.out) / "ghost-text-readme.png"),
                           clip={"x": 352, "y": 30, "width": 928, "height": 770})
        before = wb.line(21)
        check(before.rstrip() == "    return", "line 21 shows %r before accepting", before)
        wb.press("Tab")
        want = ("    return " + ghost).rstrip()
        got = wait_until("the accepted text in line 21", lambda: wb.line(21) if (wb.line(21) or "").rstrip() == want
                         else None, UI_WAIT)
        check(not wb.ghost().strip() or not want.endswith(wb.ghost().strip()), "ghost text still shown after Tab")
        wb.save()
        wait_until("the saved file to have the accepted line", lambda: want in wb.disk(), UI_WAIT)
        log(f"    accepted: {got.strip()!r}")

    # -- word: Ctrl+Right accepts the next word only

    def test_word(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        wb.goto(5)  # mean()'s docstring: a new line after it
        wb.press("Enter")
        wb.type("# Add up the")  # after Enter VS Code indents the line itself
        wb.wait_ghost("ghost text after '    # Add up the'")
        ghost = wb.ghost()  # as shown, a leading space included
        log(f"    ghost text: {ghost!r}")
        check(len(ghost.split()) >= 2, "ghost text %r has fewer than two words", ghost)
        line_before = wb.line(6)
        check(line_before.strip() == "# Add up the", "line 6 shows %r before accepting", line_before)
        wb.press("Control+ArrowRight")
        after = wait_until("part of the ghost text accepted",
                           lambda: wb.line(6) if wb.line(6) != line_before else None, UI_WAIT)
        accepted = after[len(line_before):]
        if not accepted.strip():
            # VS Code's Accept Word takes the whitespace before a word as a step of its own
            # (for every inline completion provider): a suggestion that starts with a space
            # takes two.
            wb.press("Control+ArrowRight")
            after = wait_until("a word of the ghost text accepted",
                               lambda: wb.line(6) if wb.line(6) != line_before + accepted else None, UI_WAIT)
            accepted = after[len(line_before):]
        rest = wb.ghost()
        log(f"    accepted a word: {accepted!r}; left as ghost text: {rest!r}")
        check(accepted.strip() and ghost.startswith(accepted), "accepted %r is not the start of %r", accepted, ghost)
        check(len(accepted.split()) == 1, "Ctrl+Right accepted %r, not one word, of %r", accepted, ghost)
        rest = wait_until("the rest still shown as ghost text", lambda: wb.ghost().strip() and wb.ghost(), UI_WAIT)
        check((accepted + rest).rstrip() == ghost.rstrip(), "ghost text after the word %r does not continue %r",
              rest, ghost)
        wb.shot("accept-word")
        wb.press("Escape")

    # -- manual: only Alt+\ asks

    def test_manual(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        wb.update_settings(quill__inlineTrigger="manual")
        try:
            # The setting is read by the extension when VS Code reloads settings.json; let
            # the explicit request below tell when it has: typing first shows nothing.
            wb.goto(14)  # "    return a - b" in add(): a new line after it
            wb.press("Enter")
            wb.clear_ghost_seen()
            wb.type("result = a")
            # Typing asks nothing in manual mode: give an answer time to come (a negative
            # check can only wait), then ask explicitly.
            time.sleep(3)
            check(not wb.ghost().strip(), "ghost text while typing with inlineTrigger manual: %r", wb.ghost())
            wb.press("Alt+Backslash")
            ghost = wb.wait_ghost("ghost text after Alt+\\")
            log(f"    Alt+\\ ghost text: {ghost!r}")
            wb.shot("manual-trigger")
        finally:
            wb.press("Escape")
            wb.update_settings(quill__inlineTrigger=None)

    # -- grow: a partial suggestion replaced by the whole line

    def test_grow(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        wb.update_settings(quill__timeBudgetMs=1)
        try:
            wb.goto(20)  # after "    dy = a[1] - b[1]"
            wb.press("Enter")
            wb.clear_ghost_seen()
            wb.type('print("distance from", a, "to", b, "is"')
            # Where typing left the cursor, once the status bar has caught up with the last key.
            start = wait_until("the cursor at the end of the typed text", lambda: (c := wb.cursor()) and (
                (t := wb.line(21)) is not None and c.startswith(f"Ln 21, Col {len(t.rstrip()) + 1}") and c), UI_WAIT)

            def grown():
                seen = [g.strip() for g in wb.ghost_seen() if g.strip()]
                for i, p in enumerate(seen):
                    for f in seen[i + 1:]:
                        if f != p and f.startswith(p):
                            return (p, f)
                return None
            partial, full = wait_until("a partial ghost text, then a longer one in its place", grown, WAIT)
            log(f"    partial: {partial!r} -> whole: {full!r}")
            check(wb.cursor() == start, "the cursor moved (%s -> %s)", start, wb.cursor())
            wb.shot("grow")
        finally:
            wb.press("Escape")
            wb.update_settings(quill__timeBudgetMs=0)

    # -- cycle: quill.candidates in the Settings UI; Alt+] shows another candidate

    def test_cycle(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        wb.goto(13)  # add()'s docstring: a new line after it
        wb.press("Enter")
        wb.type("total = ")
        wb.wait_ghost("ghost text with one candidate")
        one = wait_until("the toolbar's count", wb.suggestion_count, UI_WAIT)
        check(one == "1/1", "with quill.candidates 1 the toolbar shows %r, not 1/1", one)
        wb.press("Escape")
        # The Settings UI: search, type 3 into the number box.
        wb.press("Escape", "Control+Comma")  # Preferences: Open Settings (UI)
        wb.page.wait_for_selector(".settings-editor", timeout=UI_WAIT * 1000)
        wb.type("quill.candidates")
        box = wb.page.locator(".settings-editor .setting-item-number", has_text="Candidates").locator("input").first
        box.wait_for(state="visible", timeout=UI_WAIT * 1000)
        box.click()
        box.press("Control+a")
        box.type("3")
        box.press("Enter")
        wait_until("quill.candidates 3 in settings.json", lambda: wb.read_settings().get("quill.candidates") == 3,
                   UI_WAIT)
        wb.shot("settings-ui-candidates")
        wb.press("Control+w")
        wb.fresh_stats()
        try:
            wb.goto(13)
            wb.press("Enter")
            # Not the text above: its answer (one candidate) is in the server's cache.
            wb.type("result = ")
            wb.wait_ghost("ghost text with three candidates")
            first = wb.ghost()
            # Alt+] asks for the other candidates (VS Code's explicit request) and shows the next.
            wb.press("Alt+BracketRight")
            count = wait_until("the toolbar to show candidate 2 of more than one",
                               lambda: (c := wb.suggestion_count()) and c.startswith("2/") and c, WAIT)
            other = wait_until("another candidate after Alt+]", lambda: (g := wb.ghost()) != first and g.strip() and g,
                               UI_WAIT)
            log(f"    candidate 1: {first!r}; Alt+] -> candidate {count}: {other!r}")
            wb.shot("cycle")
        finally:
            wb.press("Escape")
            wb.update_settings(quill__candidates=None)

    # -- timings: the status bar's hover

    def test_timings(self):
        wb = self.main()
        wb.wait_ready()
        item = wb.page.locator('[id="quill.quill-vscode"]')

        def hover_text():
            wb.page.mouse.move(0, 0)
            item.hover()
            hov = wb.page.locator(".workbench-hover, .monaco-hover", has_text="Last completion")
            try:
                hov.first.wait_for(state="visible", timeout=5000)
            except Exception:
                return None
            return hov.first.inner_text()
        text = wait_until("the status bar hover with the last completion's timings", hover_text, UI_WAIT)
        log(f"    hover: {' | '.join(text.splitlines()[:3])}")
        check("ms" in text and "tokens" in text, "no timings in the hover: %r", text)
        wb.shot("status-timings")
        wb.page.mouse.move(640, 400)

    # -- explain and fix: code actions (Ctrl+.)

    def code_action(self, wb, title):
        wb.press("Escape", "Control+.")
        row = wb.page.locator(".action-widget .monaco-list-row", has_text=title).first
        row.wait_for(state="visible", timeout=WAIT * 1000)
        wb.shot("code-actions")
        row.click()

    def webview_texts(self, wb):
        out = []
        for f in wb.page.frames:
            # webviews only: not the workbench, not the web worker extension host's frame
            if f == wb.page.main_frame or "webWorkerExtensionHost" in f.url:
                continue
            try:
                t = f.evaluate("() => document.body ? document.body.innerText : ''")
            except Exception:
                continue
            if t and t.strip():
                out.append(t)
        return out

    def test_explain(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        n = wait_until("the line 'return a - b'", lambda: wb.find_line("return a - b"), UI_WAIT)
        wb.goto(n, 12)  # inside "return a - b"
        self.code_action(wb, "Explain this code")
        tab = wb.page.locator(".part.editor .tab", has_text="quill: explanation")
        tab.first.wait_for(state="visible", timeout=WAIT * 1000)
        text = wait_until("the explanation in the panel", lambda: next(
            (t for t in self.webview_texts(wb) if "explanation" in t and len(t.strip()) > 40), None), WAIT)
        log(f"    explanation: {' '.join(text.split())[:160]!r}")
        wb.shot("explain")
        # Close the panel (its tab focused, Ctrl+W) so that the next test sees its own answer.
        tab.first.click()
        wb.press("Control+w")
        tab.first.wait_for(state="detached", timeout=UI_WAIT * 1000)

    def test_fix(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        n = wait_until("the line 'return a - b'", lambda: wb.find_line("return a - b"), UI_WAIT)
        before = wb.line(n)
        wb.goto(n, 12)
        self.code_action(wb, "Fix this code")

        def fixed():
            lines = wb.lines()
            if lines.get(n) != before:
                return lines
            shown = [t for t in self.webview_texts(wb) if t.strip()]
            if shown:
                raise Failure(f"the fix was not applied; the answer was shown instead: {shown[0][:300]!r}")
            return None
        lines = wait_until("the fix applied to add()", fixed, WAIT)
        body = "\n".join(lines[k] for k in sorted(lines) if n - 2 <= k <= n + 2)
        log(f"    add() now:\n{body}")
        check("a + b" in body, "the fix does not return a + b:\n%s", body)
        wb.shot("fix")
        wb.save()
        wait_until("the saved file to have the fix", lambda: "a - b" not in wb.disk(), UI_WAIT)

    # -- down: the server dies and cannot come back until Restart Server

    def test_down(self):
        wb = self.main()
        wb.wait_ready()
        pid = wb.server_pid()
        check(pid, "no pid of quill serve")
        self.down_flag.touch()
        try:
            os.kill(pid, signal.SIGKILL)
            wait_until("the status bar to show 'quill: down'", lambda: "quill: down" in (wb.status() or ""), UI_WAIT)
            toast = wait_until("the notification that the server stopped",
                               lambda: next((t for t in wb.toasts() if "stopped" in t), None), UI_WAIT)
            log(f"    {wb.status()!r}; notification: {' '.join(toast.split())[:120]!r}")
            wb.shot("status-down")
        finally:
            self.down_flag.unlink(missing_ok=True)
        wb.command("quill: Restart Server")
        ready = wb.wait_ready("ready again after quill: Restart Server")
        check(wb.server_pid() != pid, "the same server pid after the restart")
        log(f"    restarted: {ready!r}")

    # -- backend: an inference server that does not answer

    def test_backend(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        wb.update_settings(quill__backend={"url": "http://127.0.0.1:9", "api": "llama-server", "timeoutMs": 2000})
        try:
            wb.goto(20)
            wb.press("Enter")

            def down():
                if "backend down" in (wb.status() or ""):
                    return wb.status()
                return None

            def switched():
                return any("127.0.0.1:9" in st or "backend down" in st for st in wb.status_seen())
            # The server has switched to the backend (an answer of the model before it would
            # stay on screen, and Alt+\ with a suggestion showing asks nothing). The backend's
            # name can show for less than a poll (the first request fails at once): read what
            # the status bar took on the way, and "backend down" (only a backend says it)
            # shows the switch as well.
            try:
                st = wait_until("the backend in the status bar", switched, UI_WAIT)
            except Failure:
                raise Failure(f"the status bar never showed the backend; seen: {wb.status_seen()[-6:]}")
            st = down()
            # Each request (Alt+\ asks now) tries the backend; the status bar follows.
            deadline = time.monotonic() + WAIT
            while st is None:
                wb.press("Escape", "Alt+Backslash")
                try:
                    st = wait_until("'quill: backend down' in the status bar", down, 10)
                except Failure:
                    if time.monotonic() > deadline:
                        raise Failure(f"no 'backend down' in the status bar; seen: {wb.status_seen()[-6:]}")
            log(f"    {st!r}; status bar on the way: {wb.status_seen()[-4:]}")
            wb.shot("status-backend-down")
        finally:
            wb.press("Escape")
            wb.update_settings(quill__backend=None)
        ready = wb.wait_ready("ready again without the backend")
        log(f"    back: {ready!r}")


    # -- nextedit: rename a parameter, Tab to the next use, Tab to apply it

    def test_nextedit(self):
        wb = self.main()
        wb.wait_ready()
        wb.fresh_stats()
        fixture = (HERE / "fixtures" / "stats.py").read_text()
        # Tab accepts ghost text while it shows (the binding leaves Tab to it); this test is
        # about next edits, so no ghost text comes between the keys and the proposals.
        wb.update_settings(quill__inlineCompletions=False)

        def target(line):
            """The marker at `line`: the old text struck through and what follows it."""
            ms = wb.next_edit_markers()
            old = "".join(m["text"] for m in ms if m["kind"] == "old" and m["line"] == line)
            after = [m["text"] for m in ms if m["kind"] == "after" and m["line"] == line and "→" in m["text"]]
            return {"old": old, "after": after[0]} if old and after else None

        def no_marker():
            ms = wb.next_edit_markers()
            return True if not ms else None

        try:
            check(wb.line(4) == "def mean(values):", "line 4 is %r", wb.line(4))
            wb.goto(4, 16)  # after "def mean(values"
            # The user renames the parameter: six Backspaces, then the new name, typed.
            for _ in range(6):
                wb.press("Backspace")
            wb.type("nums")
            check(wb.line(4) == "def mean(nums):", "line 4 is %r after typing", wb.line(4))
            m = wait_until("the next-edit marker at the next use (line 7)", lambda: target(7), UI_WAIT)
            log(f"    line 7: {m['old']!r} struck through, then {m['after']!r}")
            check(m["old"] == "values" and "→ nums" in m["after"] and "Tab" in m["after"],
                  "the marker at line 7 is %r", m)
            hint = wait_until("the Tab hint at the end of the cursor line (4)", lambda: next(
                (x["text"] for x in wb.next_edit_markers() if x["kind"] == "after" and x["line"] == 4), None), UI_WAIT)
            log(f"    line 4 hint: {hint!r}")
            check("rename values → nums" in hint and "line 7" in hint, "the hint at line 4 is %r", hint)
            wb.shot("next-edit-marker")
            # Escape dismisses it; quill: Suggest Next Edit (the palette) asks for it again.
            wb.press("Escape")
            wait_until("no marker after Escape", no_marker, UI_WAIT)
            check(wb.line(4) == "def mean(nums):", "Escape changed line 4: %r", wb.line(4))
            wb.command("quill: Suggest Next Edit")
            wait_until("the marker back at line 7 after quill: Suggest Next Edit", lambda: target(7), UI_WAIT)
            # Tab: the cursor goes to the target, the text stays.
            wb.press("Tab")
            wait_until("the cursor at the target (Ln 7, Col 14)", lambda: (wb.cursor() or "").startswith("Ln 7, Col 14"),
                       UI_WAIT)
            check(wb.line(7) == "    for v in values:", "the jump changed line 7: %r", wb.line(7))
            check(wb.line(4) == "def mean(nums):", "the jump changed line 4: %r", wb.line(4))
            # Tab again: applied.
            wb.press("Tab")
            wait_until("line 7 renamed", lambda: wb.line(7) == "    for v in nums:", UI_WAIT)
            wb.shot("next-edit-applied")
            # The server proposes the last use: the same two keys.
            m = wait_until("the next-edit marker at the last use (line 9)", lambda: target(9), UI_WAIT)
            log(f"    line 9: {m['old']!r} struck through, then {m['after']!r}")
            check(m["old"] == "values" and "→ nums" in m["after"], "the marker at line 9 is %r", m)
            wb.press("Tab")
            wait_until("the cursor at the last use (Ln 9, Col 24)",
                       lambda: (wb.cursor() or "").startswith("Ln 9, Col 24"), UI_WAIT)
            wb.press("Tab")
            wait_until("line 9 renamed", lambda: wb.line(9) == "    return total / len(nums)", UI_WAIT)
            wait_until("no marker left", no_marker, UI_WAIT)
            want = fixture.replace("values", "nums")
            lines = wb.lines()
            check(lines == {i + 1: t for i, t in enumerate(want.split("\n"))}, "the editor shows %r", lines)
            wb.save()
            wait_until("the saved file with every use renamed", lambda: wb.disk() == want, UI_WAIT)
            log("    saved: def mean(nums) / for v in nums / len(nums)")
        finally:
            wb.press("Escape")
            wb.update_settings(quill__inlineCompletions=None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--code-server", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--vsix", required=True)
    ap.add_argument("--quill", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("tests", nargs="*")
    args = ap.parse_args()
    selected = args.tests or ORDER
    unknown = [t for t in selected if t not in ORDER]
    if unknown:
        log(f"unknown tests {unknown}; known: {' '.join(ORDER)}")
        return 2
    out = Path(args.out)
    for old in out.glob("*.png"):
        old.unlink()
    shutil.rmtree(out / "run", ignore_errors=True)
    results = []
    t_all = time.monotonic()

    def stop(signum, _frame):
        raise SystemExit(f"stopped by signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox", "--disable-gpu"])
        suite = Suite(args, browser)
        try:
            for name in selected:
                log(f"RUN  {name}")
                t0 = time.monotonic()
                try:
                    getattr(suite, f"test_{name}")()
                    results.append((name, True, time.monotonic() - t0, ""))
                    log(f"PASS {name} ({time.monotonic() - t0:.0f} s)")
                except Exception as e:  # noqa: BLE001 - every failure is reported, the rest go on
                    msg = str(e) if isinstance(e, Failure) else f"{type(e).__name__}: {e}"
                    results.append((name, False, time.monotonic() - t0, msg))
                    log(f"FAIL {name} ({time.monotonic() - t0:.0f} s): {msg}")
                    if VERBOSE or not isinstance(e, Failure):
                        traceback.print_exc(limit=3)
                    try:
                        if suite.wb:
                            suite.wb.shot(f"FAILED-{name}")
                    except Exception:
                        pass
        finally:
            suite.close()
            browser.close()
    log("")
    log(f"==> summary ({time.monotonic() - t_all:.0f} s)")
    for name, ok, secs, msg in results:
        log(f"{'PASS' if ok else 'FAIL'}  {name} ({secs:.0f} s){'' if ok else ': ' + msg[:200]}")
    failed = sum(1 for r in results if not r[1])
    log(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
