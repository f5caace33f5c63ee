"""`droidtrack top --web ADDR` in a real headless Chromium: the page textual-serve serves runs the
same Textual app, and the browser's terminal shows the process table.

The page draws the terminal on a canvas (xterm.js), so the test reads what the browser's terminal
holds through xterm's own buffer API: a script added before the page's own catches the Terminal
the page creates. A screenshot is written next to the test's tmp files (web-top.png).

Skipped, naming the package, when chromium is not installed.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from browser import Chromium, env_with_repo, free_port, need_chromium

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

# keeps the first xterm Terminal the page makes (its constructor assigns `this.terminal = new Terminal`)
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, 'terminal', {
  configurable: true,
  set(v) {
    Object.defineProperty(this, 'terminal', {value: v, writable: true, configurable: true, enumerable: true});
    if (v && v.buffer && !window.__dtTerm) window.__dtTerm = v;
  }
});
"""
SCREEN_TEXT = """(() => { const t = window.__dtTerm; if (!t) return ''; const b = t.buffer.active, out = [];
  for (let i = 0; i < t.rows; i++) { const l = b.getLine(b.viewportY + i); out.push(l ? l.translateToString(true) : ''); }
  return out.join('\\n'); })()"""


def start_web(tmp_path, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(tmp_path / "web.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "droidtrack", "top", *args, "--web", f"127.0.0.1:{port}",
                             "--save-dir", str(tmp_path)],
                            cwd=ROOT, env=env_with_repo(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise AssertionError((tmp_path / "web.log").read_text(errors="replace")[-3000:])
        time.sleep(0.2)


def stop(proc: subprocess.Popen) -> None:
    """The server and the app processes it started for the browser tabs (one session: ours)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)     # an app process left behind by the server
    except ProcessLookupError:
        pass


def test_top_web_shows_the_process_table_in_chromium(tmp_path):
    need_chromium()
    proc, url = start_web(tmp_path, "--root", str(ROOT / "fixtures" / "a13-5.15"), "-n", "1")
    try:
        with Chromium(tmp_path, size=(1400, 900)) as page:
            page.before_load(CATCH_TERMINAL)
            page.open(url)
            text = page.wait_for(f"(() => {{ const s = {SCREEN_TEXT}; return s.includes('surfaceflinger') && s; }})()",
                                 timeout=90)
            shot = page.screenshot(tmp_path / "web-top.png")
            lines = text.splitlines()
            head = next(l for l in lines if "PID" in l and "NAME" in l)
            for col in ("PSS", "FD-ONLY", "RSS", "Δ"):
                assert col in head, head
            assert "droidtrack top" in text and "coverage" in text and "1 Processes" in text
            row = next(l for l in lines if "surfaceflinger" in l)
            assert any(c.isdigit() for c in row.split("surfaceflinger", 1)[1]), row   # its numbers too
            assert shot[:8] == b"\x89PNG\r\n\x1a\n" and len(shot) > 20_000
            # it is the live app: a key typed in the browser reaches it
            page.eval("window.__dtTerm.focus()")
            page.call("Input.dispatchKeyEvent", type="keyDown", key="2", text="2")
            page.call("Input.dispatchKeyEvent", type="keyUp", key="2")
            page.wait_for(f"{SCREEN_TEXT}.includes('Per exporter')", timeout=30)
    finally:
        stop(proc)


def test_top_web_refuses_an_address_it_cannot_use(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "droidtrack", "top", "--root",
                               str(ROOT / "fixtures" / "a13-5.15"), *args], cwd=ROOT, env=env_with_repo(),
                              capture_output=True, text=True, timeout=60)
    r = run("--web", "127.0.0.1:notaport")
    assert r.returncode == 2 and "port must be a number" in r.stderr
    import socket
    with socket.create_server(("127.0.0.1", 0)) as busy:
        r = run("--web", f"127.0.0.1:{busy.getsockname()[1]}")
    assert r.returncode == 2 and "cannot listen on 127.0.0.1" in r.stderr, r.stderr


def test_parse_addr():
    from droidtrack.tui.web import is_loopback, parse_addr
    assert parse_addr("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_addr(":9000") == ("127.0.0.1", 9000) and parse_addr("9000") == ("127.0.0.1", 9000)
    assert parse_addr("[::1]:8080") == ("::1", 8080) and parse_addr("localhost") == ("localhost", 8000)
    for bad in ("host:0", "host:70000", "[::1", "[::1]x"):
        with pytest.raises(ValueError):
            parse_addr(bad)
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
