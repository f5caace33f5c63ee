"""The adb server's wire protocol, spoken directly: smart-socket requests, shell v2, sync push.

A request is a 4-hex-digit length and the request; the server answers OKAY, or FAIL and a message.
droidtrack speaks it itself instead of going through adbutils, because:
  * adbutils' `device_list()` hides `unauthorized` and `offline` devices (we want them, with a hint);
  * its `shell()` merges stderr and concatenates output quadratically (10 MB took ~7 s here); its
    `shell2(v2=True)` reads everything into memory and loses what arrived when the device vanishes;
  * it starts an adb server on its own when the port is closed.
Streams are read with the shell v2 protocol (stdout, stderr and the exit code kept apart), with a
deadline and an idle (stall) timeout on every call, and everything received is kept if the device
goes away mid-stream. Device selection is in adb_devices.py, the collector in adb.py.
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5037
# The collector's longest silence on a healthy device is before its first output (grep -l over every
# maps file, ls -n over every fd directory): about a second for 2,000 processes on a host, a few
# seconds on a slow phone. 10 s of silence inside a stream means it has stopped.
STALL_TIMEOUT = 10.0

STATE_HINTS = {
    "device": "ready",
    "unauthorized": "unlock the phone and accept the 'Allow USB debugging?' prompt (no prompt: "
                    "Developer options > Revoke USB debugging authorizations, then replug)",
    "offline": "not answering: replug the cable or run `adb reconnect`; if it persists, `adb kill-server`",
    "authorizing": "the phone is checking this computer's key; wait a second",
    "connecting": "adb is still connecting; wait a second",
    "bootloader": "in the bootloader (fastboot): reboot into Android",
    "recovery": "in recovery: reboot into Android",
    "rescue": "in rescue mode: reboot into Android",
    "sideload": "waiting for `adb sideload`: reboot into Android",
    "host": "this is an adb host, not a device",
}


class AdbError(Exception):
    """Could not talk to the device. The message is for the user."""
    exit_code = 2


@dataclass
class AdbTarget:
    serial: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    su: str = "auto"
    start_server: bool = True     # start a local adb server if none answers, like adb does
    stall_timeout: float = STALL_TIMEOUT   # seconds of silence mid-stream before giving up on it


@dataclass
class ShellResult:
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    error: str | None = None


# ---- the smart-socket protocol -------------------------------------------------------------
def _quickack(sock: socket.socket) -> None:
    # ask for immediate ACKs: the server's small trailing segments otherwise wait for our
    # delayed ACK under Nagle (40 ms per round trip)
    if hasattr(socket, "TCP_QUICKACK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise AdbError("the adb server closed the connection")
        buf += chunk
    return bytes(buf)


def _is_local(host: str) -> bool:
    return host in ("localhost", "127.0.0.1", "::1", "")


def _find_adb() -> str | None:
    p = shutil.which("adb")
    if p:
        return p
    try:
        from droidtrack.double.adbserver import wheel_adb
        return wheel_adb()
    except ImportError:
        return None


_start_lock = threading.Lock()


def _start_server(target: AdbTarget) -> None:
    """What adb does when no server answers: `adb start-server` on that port."""
    adb = _find_adb()
    if adb is None:
        raise AdbError(f"no adb server at {target.host}:{target.port} and no adb binary to start one "
                       "(install Android platform-tools)")
    env = dict(os.environ, ANDROID_ADB_SERVER_PORT=str(target.port))
    try:
        r = subprocess.run([adb, "-P", str(target.port), "start-server"], env=env, capture_output=True,
                           timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise AdbError(f"could not start an adb server on port {target.port}: {e}") from None
    if r.returncode != 0:
        raise AdbError(f"could not start an adb server on port {target.port}: "
                       f"{(r.stdout + r.stderr).decode('utf-8', 'replace').strip()}")
    if b"starting now" in r.stderr + r.stdout:
        # say it as adb does (its own words), and that it outlives this command, as adb's does
        print(f"* daemon not running; starting now at tcp:{target.port}\n* daemon started successfully\n"
              f"droidtrack: this adb server keeps running after droidtrack exits, as one adb starts does "
              f"(`adb -P {target.port} kill-server` stops it)", file=sys.stderr, flush=True)


def _connect(target: AdbTarget, timeout: float) -> socket.socket:
    for attempt in (0, 1):
        try:
            sock = socket.create_connection((target.host, target.port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except ConnectionRefusedError:
            if attempt == 0 and target.start_server and _is_local(target.host):
                with _start_lock:
                    _start_server(target)
                continue
            raise AdbError(f"no adb server at {target.host}:{target.port} (is adb running? "
                           "`adb start-server`, or pass -H/-P)") from None
        except socket.timeout:
            raise AdbError(f"the adb server at {target.host}:{target.port} did not answer within {timeout:g} s") from None
        except OSError as e:
            raise AdbError(f"cannot reach the adb server at {target.host}:{target.port}: {e.strerror or e}") from None
    raise AdbError(f"no adb server at {target.host}:{target.port}")


def _send_request(sock: socket.socket, req: str) -> None:
    data = req.encode("utf-8")
    sock.sendall(b"%04x" % len(data) + data)
    status = _recv_exact(sock, 4)
    if status == b"OKAY":
        return
    if status == b"FAIL":
        n = int(_recv_exact(sock, 4), 16)
        raise _Fail(_recv_exact(sock, n).decode("utf-8", "replace"))
    raise AdbError(f"unexpected answer from the adb server: {status!r}")


class _Fail(Exception):
    """The server answered FAIL; the message is adb's."""


def _read_block(sock: socket.socket) -> str:
    n = int(_recv_exact(sock, 4), 16)
    return _recv_exact(sock, n).decode("utf-8", "replace")


def host_query(target: AdbTarget, req: str, timeout: float = 10.0) -> str:
    """A host request that answers with a length-prefixed block (host:devices-l, host:version...)."""
    sock = _connect(target, timeout)
    try:
        sock.settimeout(timeout)
        _send_request(sock, req)
        return _read_block(sock)
    except _Fail as e:
        raise AdbError(f"adb server: {e}") from None
    except socket.timeout:
        raise AdbError(f"the adb server did not answer {req!r} within {timeout:g} s") from None
    except OSError as e:
        raise AdbError(f"lost the adb server while asking {req!r}: {e}") from None
    finally:
        sock.close()


def _fail_message(serial: str, msg: str) -> str:
    low = msg.lower()
    if "unauthorized" in low:
        return f"device {serial} is unauthorized: {STATE_HINTS['unauthorized']}"
    if "offline" in low:
        return f"device {serial} is offline: {STATE_HINTS['offline']}"
    if "not found" in low:
        return f"no device {serial} (adb: {msg.strip()}); `droidtrack devices` lists what adb sees"
    if "no devices" in low:
        return "no device connected (enable USB debugging and plug the phone in; `droidtrack devices` lists what adb sees)"
    return f"adb: {msg.strip()}"


def open_service(target: AdbTarget, serial: str, service: str, timeout: float = 10.0) -> socket.socket:
    """A socket connected to `service` on the device (after `host:transport:SERIAL`)."""
    sock = _connect(target, timeout)
    try:
        sock.settimeout(timeout)
        try:
            _send_request(sock, f"host:transport:{serial}")
        except _Fail as e:
            raise AdbError(_fail_message(serial, str(e))) from None
        try:
            _send_request(sock, service)
        except _Fail as e:
            raise AdbError(f"device {serial} refused {service.split(':', 1)[0]}: {e}") from None
        return sock
    except socket.timeout:
        sock.close()
        raise AdbError(f"device {serial} did not answer within {timeout:g} s") from None
    except AdbError:
        sock.close()
        raise
    except OSError as e:
        sock.close()
        raise AdbError(f"lost the adb server while opening {service!r} on {serial}: {e}") from None


# ---- shell v2 ------------------------------------------------------------------------------
_V2 = struct.Struct("<BI")


def read_shell_v2(sock: socket.socket, *, timeout: float, idle_timeout: float | None = None,
                  timeout_label: float | None = None,
                  patience: Callable[[bytearray], float | None] | None = None,
                  on_stdout: Callable[[bytes], None] | None = None,
                  on_stderr: Callable[[bytes], None] | None = None,
                  stop: threading.Event | None = None) -> ShellResult:
    """Read a shell v2 stream to its exit packet. Never raises for the device going away or
    stalling: `error` says what happened and stdout/stderr keep every byte that arrived.

    idle_timeout: seconds without a byte before the stream counts as stalled. patience(stdout so
    far), asked only when that much silence has passed, may allow longer (a section known to
    think before it prints, e.g. dumpsys).
    Streaming (`droidtrack trace`): on_stdout/on_stderr get every chunk as it arrives (and the
    result keeps none of it); once `stop` is set the command's stdin is closed (it is expected to
    finish then) and the stream read on to its exit."""
    out = bytearray()
    err = bytearray()
    buf = bytearray()
    rc: int | None = None
    error: str | None = None
    start = time.monotonic()
    deadline = start + timeout
    idle = idle_timeout if idle_timeout is not None else timeout
    label = timeout_label if timeout_label is not None else timeout
    last = start
    stopped = False
    while rc is None:
        if stop is not None and not stopped and stop.is_set():
            stopped = True
            try:
                sock.sendall(_V2.pack(4, 0))      # close-stdin
            except OSError:
                pass
            deadline = min(deadline, time.monotonic() + 15.0)
        now = time.monotonic()
        left = deadline - now
        if left <= 0:
            error = f"the device did not finish within {label:g} s (kept {len(out)} bytes)"
            break
        # what is left of the allowed silence after the last byte (in idle steps once patience
        # allowed more than idle)
        quiet = now - last
        wait = min(max(0.05, idle - quiet if quiet < idle else idle), left)
        sock.settimeout(min(wait, 0.2) if stop is not None and not stopped else wait)
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            now = time.monotonic()
            if now >= deadline:
                error = f"the device did not finish within {label:g} s (kept {len(out)} bytes)"
                break
            quiet = now - last
            if stop is not None and not stopped and quiet < idle:
                continue
            allowed = (patience(out) if patience is not None else None) or idle
            if quiet < allowed - 0.001:
                continue
            error = f"the device sent nothing for {quiet:.0f} s (stalled; kept {len(out)} bytes)"
            break
        except OSError as e:
            error = f"the connection to the adb server broke: {e.strerror or e} (kept {len(out)} bytes)"
            break
        if not chunk:
            break
        last = time.monotonic()
        _quickack(sock)
        buf += chunk
        pos = 0
        n = len(buf)
        while n - pos >= 5:
            kind, ln = _V2.unpack_from(buf, pos)
            if n - pos - 5 < ln:
                break
            body = buf[pos + 5:pos + 5 + ln]
            pos += 5 + ln
            if kind == 1:
                if on_stdout is None:
                    out += body
                else:
                    on_stdout(bytes(body))
            elif kind == 2:
                if on_stderr is None:
                    err += body
                else:
                    on_stderr(bytes(body))
            elif kind == 3:
                rc = body[0] if body else 0
                break
        del buf[:pos]
    if rc is None and len(buf) > 5:
        # a packet cut in the middle: keep the part of it that arrived
        kind, _ln = _V2.unpack_from(buf, 0)
        sink = (on_stdout or out.extend) if kind == 1 else (on_stderr or err.extend) if kind == 2 else None
        if sink is not None:
            sink(bytes(buf[5:]))
    if rc is None and error is None:
        error = f"the stream ended before the command finished: the device went away (kept {len(out)} bytes)"
    return ShellResult(bytes(out), bytes(err), rc, error)


def shell(target: AdbTarget, serial: str, command: str, *, timeout: float = 30.0,
          idle_timeout: float | None = None, timeout_label: float | None = None,
          patience: Callable[[bytearray], float | None] | None = None, **stream) -> ShellResult:
    """Run one command with the shell v2 protocol (stdout, stderr and exit code kept apart);
    `stream`: read_shell_v2's on_stdout, on_stderr, stop."""
    sock = open_service(target, serial, "shell,v2,raw:" + command, timeout=min(timeout, 15.0))
    try:
        return read_shell_v2(sock, timeout=timeout, idle_timeout=idle_timeout, timeout_label=timeout_label,
                             patience=patience, **stream)
    finally:
        sock.close()


# ---- sync push -----------------------------------------------------------------------------
def push_bytes(target: AdbTarget, serial: str, data: bytes, remote: str, *, mode: int = 0o644,
               mtime: int | None = None, timeout: float = 30.0) -> None:
    """Write `data` to `remote` with the sync protocol (SEND v1: every adbd has it)."""
    sock = open_service(target, serial, "sync:", timeout=timeout)
    try:
        sock.settimeout(timeout)
        spec = f"{remote},{mode}".encode()
        parts = [struct.pack("<4sI", b"SEND", len(spec)), spec]
        for i in range(0, len(data), 65536):
            chunk = data[i:i + 65536]
            parts.append(struct.pack("<4sI", b"DATA", len(chunk)))
            parts.append(chunk)
        parts.append(struct.pack("<4sI", b"DONE", int(time.time() if mtime is None else mtime)))
        sock.sendall(b"".join(parts))
        head = _recv_exact(sock, 8)
        kind, n = struct.unpack("<4sI", head)
        if kind == b"FAIL":
            raise AdbError(f"could not copy the collector to {remote}: {_recv_exact(sock, n).decode('utf-8', 'replace')}")
        if kind != b"OKAY":
            raise AdbError(f"unexpected sync answer {kind!r} while copying to {remote}")
        sock.sendall(struct.pack("<4sI", b"QUIT", 0))
    except socket.timeout:
        raise AdbError(f"copying to {remote} on {serial} timed out after {timeout:g} s") from None
    except OSError as e:
        raise AdbError(f"copying to {remote} on {serial} failed: {e}") from None
    finally:
        sock.close()
