"""A real headless Chromium driven over the DevTools protocol (a websocket; aiohttp's client,
which textual-serve brings): open a page, evaluate JavaScript in it, take a screenshot.

    with Chromium(tmp_path) as page:       # skips the test when chromium is not installed
        page.open("http://127.0.0.1:8000/")
        page.eval("document.title")
        page.screenshot(tmp_path / "shot.png")

Only loopback pages: the browser runs with networking features off and a fresh profile.
"""
from __future__ import annotations

import asyncio
import base64
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from procs import end

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions")


def need_chromium() -> str:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: apt-get install -y chromium")
    return CHROMIUM


class Chromium:
    def __init__(self, tmp: Path, size: tuple[int, int] = (1400, 900)) -> None:
        self.exe = need_chromium()
        self.profile = tmp / "chromium-profile"
        self.size = size
        self.proc: subprocess.Popen | None = None
        self.loop = asyncio.new_event_loop()
        self._n = 0

    def __enter__(self) -> "Chromium":
        import aiohttp
        self.profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.exe, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--window-size={self.size[0]},{self.size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = self.profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.exists() and "\n" in port_file.read_text()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])

        async def connect():
            self.session = aiohttp.ClientSession()
            for _ in range(50):
                async with self.session.get(f"http://127.0.0.1:{port}/json/list") as r:
                    pages = [t for t in await r.json() if t["type"] == "page"]
                if pages:
                    break
                await asyncio.sleep(0.1)
            self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        self.loop.run_until_complete(connect())
        self.call("Page.enable")
        self.call("Runtime.enable")
        return self

    def __exit__(self, *exc) -> None:
        async def close():
            await self.ws.close()
            await self.session.close()
        try:
            self.loop.run_until_complete(close())
        finally:
            self.loop.close()
            if self.proc is not None:
                end(self.proc, 10)
            shutil.rmtree(self.profile, ignore_errors=True)

    def call(self, method: str, **params) -> dict:
        self._n += 1
        n = self._n

        async def go():
            await self.ws.send_json({"id": n, "method": method, "params": params})
            while True:
                m = await self.ws.receive_json(timeout=60)
                if m.get("id") == n:
                    if "error" in m:
                        raise RuntimeError(f"{method}: {m['error']}")
                    return m["result"]
        return self.loop.run_until_complete(go())

    def before_load(self, script: str) -> None:
        """Run `script` in every page before its own scripts."""
        self.call("Page.addScriptToEvaluateOnNewDocument", source=script)

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0):
        """Evaluate until it is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            v = self.eval(expression)
            if v:
                return v
            if time.monotonic() > deadline:
                raise AssertionError(f"not true after {timeout:g} s: {expression}")
            time.sleep(0.25)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        Path(path).write_bytes(data)
        return data


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_with_repo() -> dict:
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    return env
