"""A real adb server of our own: `adb -P <free port> nodaemon server`, isolated and owned by PID.

HOME and TMPDIR point at a temporary directory (the server writes its key and log there),
ADB_USB=0 (adb 36 otherwise waits ~3 s for a USB scan on the first command) and ADB_MDNS=0 (no
mDNS listener on 0.0.0.0:5353). Two adb builds reporting the same protocol version silently share
a server on one port, so every server gets its own port.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def wheel_adb() -> str | None:
    """The adb binary shipped in the adbutils wheel (adb 36 with adbutils 2.12)."""
    try:
        import adbutils
    except ImportError:
        return None
    p = Path(adbutils.__file__).parent / "binaries" / "adb"
    return str(p) if p.is_file() and os.access(p, os.X_OK) else None


def system_adb() -> str | None:
    p = shutil.which("adb")
    return os.path.realpath(p) if p else None


def adb_version(adb: str) -> str:
    out = subprocess.run([adb, "version"], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if line.startswith("Version "):
            return line.split()[1]
    return "?"


def free_port() -> int:
    """A free TCP port on 127.0.0.1 outside the range adb scans for emulators (5554-5585)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not (5037 <= port <= 5586):
            return port
    raise RuntimeError("no free port")


class AdbServerError(RuntimeError):
    pass


class AdbServer:
    """`with AdbServer(adb_path) as srv: srv.run("connect", serial)`."""

    def __init__(self, adb: str | None = None, port: int | None = None) -> None:
        adb = adb or wheel_adb() or system_adb()
        if not adb:
            raise AdbServerError("no adb binary found (pip install adbutils ships one)")
        self.adb = adb
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="droidtrack-adb-"))
        self.proc: subprocess.Popen | None = None
        self.log = self.dir / "server.log"

    @property
    def env(self) -> dict[str, str]:
        e = dict(os.environ)
        e.update(HOME=str(self.dir), TMPDIR=str(self.dir), ADB_USB="0", ADB_MDNS="0",
                 ADB_MDNS_AUTO_CONNECT="0", ANDROID_ADB_SERVER_PORT=str(self.port))
        for k in ("ANDROID_SERIAL", "ADB_SERVER_SOCKET", "ANDROID_ADB_SERVER_ADDRESS", "ADB_TRACE"):
            e.pop(k, None)
        return e

    def start(self, timeout: float = 15.0) -> "AdbServer":
        # a watchdog shell owns the server: when our end of its stdin closes (we exit, even
        # killed), it stops the server, so no adb server outlives the test or the demo
        script = 'exec 3<&0; "$0" "$@" </dev/null & p=$!; (read _ <&3; kill $p 2>/dev/null) & wait $p'
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["/bin/sh", "-c", script, self.adb, "-P", str(self.port), "nodaemon", "server"],
                                         env=self.env, stdin=subprocess.PIPE, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AdbServerError(f"adb server exited with {self.proc.returncode}: {self.log_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"000chost:version")
                    if s.recv(4) == b"OKAY":
                        return self
            except OSError:
                pass
            time.sleep(0.01)
        self.stop()
        raise AdbServerError(f"adb server did not answer on port {self.port} within {timeout} s")

    def log_text(self) -> str:
        try:
            return self.log.read_text("utf-8", "replace")
        except OSError:
            return ""

    def run(self, *args: str, timeout: float = 20.0, check: bool = False,
            env: dict[str, str] | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
        e = self.env
        if env:
            e.update(env)
        r = subprocess.run([self.adb, "-P", str(self.port), *args], env=e, capture_output=True,
                           timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AdbServerError(f"adb {' '.join(args)} failed ({r.returncode}): "
                                 f"{r.stdout.decode(errors='replace')}{r.stderr.decode(errors='replace')}")
        return r

    def connect(self, serial: str, state: str | None = "device", timeout: float = 10.0) -> None:
        """`adb connect` and wait until the server lists `serial` (in `state`, if given)."""
        r = self.run("connect", serial, timeout=timeout)
        out = (r.stdout + r.stderr).decode("utf-8", "replace")
        if "connected to" not in out and not (state == "unauthorized" and "authenticate" in out):
            raise AdbServerError(f"adb connect {serial}: {out.strip()}")
        if state is not None:
            self.wait_state(serial, state, timeout)

    def disconnect(self, serial: str) -> None:
        self.run("disconnect", serial, timeout=10)

    def devices(self) -> dict[str, str]:
        out = self.run("devices", timeout=10).stdout.decode("utf-8", "replace")
        res = {}
        for line in out.splitlines()[1:]:
            if "\t" in line:
                serial, _, state = line.partition("\t")
                res[serial] = state.strip()
        return res

    def wait_state(self, serial: str, state: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        seen = None
        while time.monotonic() < deadline:
            seen = self.devices().get(serial)
            if seen == state:
                return
            time.sleep(0.02)
        raise AdbServerError(f"{serial} is {seen!r}, not {state!r}, after {timeout} s")

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is not None:
            try:
                os.killpg(p.pid, signal.SIGTERM)   # the watchdog, the server and its helpers
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            if p.stdin:
                p.stdin.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "AdbServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
