"""A live device through an adb server: device selection, the collector, one `adb shell` per snapshot.

This speaks the adb server's smart-socket protocol directly (a 4-hex-digit length, then the
request; OKAY or FAIL + message) instead of going through adbutils, because:
  * adbutils' `device_list()` hides `unauthorized` and `offline` devices (we want them, with a hint);
  * its `shell()` merges stderr and concatenates output quadratically (10 MB took ~7 s here); its
    `shell2(v2=True)` reads everything into memory and loses what arrived when the device vanishes;
  * it starts an adb server on its own when the port is closed.
The stream is read with the shell v2 protocol (stdout, stderr and the exit code kept apart), with a
deadline and an idle timeout on every call, and everything received is kept if the device goes
away mid-stream.

The collector (device_scripts/collect.sh) lives in /data/local/tmp/droidtrack/ on the device. It is
pushed once; every snapshot is ONE shell command that checks the file's sha256 (sha256sum or
toybox sha256sum, else size+mtime) and either runs it or answers "push me", so a new collector is
pushed only when it changed. `droidtrack clean` removes the directory.

Privilege (`--su`): `auto` takes root by `adb root` when the build allows it (ro.debuggable=1:
adbd restarts, no reboot), else by `su 0`/`su -c`, else runs as the shell user and says coverage
is reduced; `never` always runs as shell; `require` fails unless root was obtained. If droidtrack
restarted adbd as root, it restarts it unrooted when the session ends (at exit at the latest).
"""
from __future__ import annotations

import argparse
import atexit
import dataclasses
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5037
DEVICE_DIR = "/data/local/tmp/droidtrack"
DEVICE_COLLECTOR = DEVICE_DIR + "/collect.sh"
SU_MODES = ("auto", "never", "require")

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


@dataclass
class DeviceEntry:
    serial: str
    state: str
    props: dict[str, str] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        s = self.state
        if s.startswith("no permissions"):
            return "the USB device is not accessible to you: install udev rules for Android devices"
        return STATE_HINTS.get(s, f"adb reports state {s!r}")

    @property
    def description(self) -> str:
        p = self.props
        return " ".join(x for x in (p.get("model", "").replace("_", " "), f"({p['device']})" if "device" in p else "") if x)


@dataclass
class CollectResult:
    data: bytes
    serial: str
    stderr: bytes = b""
    exit_code: int | None = None
    error: str | None = None      # set when the device went away mid-stream (data holds what arrived)
    privilege: str = "shell"      # "root" | "su" | "shell"
    pushed: bool = False          # the collector was (re)installed for this snapshot
    seconds: float = 0.0
    note: str | None = None       # why coverage is reduced (running as shell), for the user


@dataclass
class ShellResult:
    stdout: bytes
    stderr: bytes
    exit_code: int | None
    error: str | None = None


# ---- arguments ---------------------------------------------------------------------------
def add_device_arguments(parser: argparse.ArgumentParser) -> None:
    """-s/--serial, -H/--adb-host, -P/--adb-port, --su, --demo (adb's own spelling where it has one)."""
    g = parser.add_argument_group("device (like adb: -s, ANDROID_SERIAL, the only device if there is one)")
    g.add_argument("-s", "--serial", metavar="SERIAL", default=None,
                   help="the device to use (default: $ANDROID_SERIAL, else the only device)")
    g.add_argument("-H", "--adb-host", metavar="HOST", default=None,
                   help="host of the adb server (default: $ANDROID_ADB_SERVER_ADDRESS or localhost)")
    g.add_argument("-P", "--adb-port", metavar="PORT", type=int, default=None,
                   help="port of the adb server (default: $ANDROID_ADB_SERVER_PORT or 5037)")
    g.add_argument("--su", choices=SU_MODES, default="auto",
                   help="root: auto = `adb root` if the build allows it, else su, else run as shell with "
                        "reduced coverage (default); never = always as shell; require = fail without root")
    if not any("--demo" in a.option_strings for a in parser._actions):
        g.add_argument("--demo", action="store_true",
                       help="use the built-in simulated phone instead of a real device (no phone needed)")


def _env_port() -> int | None:
    v = os.environ.get("ANDROID_ADB_SERVER_PORT", "").strip()
    if not v:
        return None
    if not v.isdigit() or not 0 < int(v) < 65536:
        raise AdbError(f"ANDROID_ADB_SERVER_PORT={v!r} is not a port number")
    return int(v)


def target_from_args(args: argparse.Namespace) -> AdbTarget:
    """-s, else ANDROID_SERIAL; -H, else ANDROID_ADB_SERVER_ADDRESS, else localhost; -P, else
    ANDROID_ADB_SERVER_PORT, else 5037. The serial stays None when not given: the device is
    resolved (the only one) when collecting."""
    serial = getattr(args, "serial", None) or os.environ.get("ANDROID_SERIAL") or None
    host = getattr(args, "adb_host", None) or os.environ.get("ANDROID_ADB_SERVER_ADDRESS") or DEFAULT_HOST
    port = getattr(args, "adb_port", None)
    if port is None:
        port = _env_port() or DEFAULT_PORT
    if not 0 < int(port) < 65536:
        raise AdbError(f"adb port {port} is not a port number")
    su = getattr(args, "su", None) or "auto"
    if su not in SU_MODES:
        raise AdbError(f"--su {su}: choose one of {', '.join(SU_MODES)}")
    return AdbTarget(serial=serial, host=host, port=int(port), su=su)


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


_PROP_RE = re.compile(r"^(product|model|device|transport_id|usb|features):(\S*)$")


def parse_devices_l(text: str) -> list[DeviceEntry]:
    """Lines of `host:devices-l`: `SERIAL  STATE [key:value...]`. A state can contain spaces
    ("no permissions (...); see [...]"), so key:value words are taken from the end."""
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        serial, _, rest = line.strip().partition(" ") if "\t" not in line else line.partition("\t")
        serial = serial.strip()
        if not serial:
            continue          # no serial before the tab: not a device line
        words = rest.split()
        props: dict[str, str] = {}
        while words:
            m = _PROP_RE.match(words[-1])
            if not m:
                break
            props[m.group(1)] = m.group(2)
            words.pop()
        out.append(DeviceEntry(serial, " ".join(words) or "unknown", dict(reversed(props.items()))))
    return out


def list_devices(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, timeout: float = 10.0,
                 start_server: bool = True) -> list[DeviceEntry]:
    """Every device the adb server knows, in every state (unlike adbutils' device_list())."""
    return parse_devices_l(host_query(AdbTarget(None, host, port, start_server=start_server),
                                      "host:devices-l", timeout))


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


def resolve_serial(target: AdbTarget, timeout: float = 10.0) -> str:
    """The serial to use: the given one, else the only device, else a clear error listing them."""
    if target.serial:
        return target.serial
    devs = list_devices(target.host, target.port, timeout=timeout, start_server=target.start_server)
    if not devs:
        raise AdbError("no device connected (enable USB debugging and plug the phone in, or `adb connect HOST:PORT`)")
    if len(devs) > 1:
        listing = ", ".join(f"{d.serial} ({d.state})" for d in devs)
        raise AdbError(f"{len(devs)} devices connected: pass -s SERIAL or set ANDROID_SERIAL. Devices: {listing}")
    d = devs[0]
    if d.state != "device":
        raise AdbError(f"device {d.serial} is {d.state}: {d.hint}")
    return d.serial


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
                  timeout_label: float | None = None) -> ShellResult:
    """Read a shell v2 stream to its exit packet. Never raises for the device going away or
    stalling: `error` says what happened and stdout/stderr keep every byte that arrived."""
    out = bytearray()
    err = bytearray()
    buf = bytearray()
    rc: int | None = None
    error: str | None = None
    start = time.monotonic()
    deadline = start + timeout
    idle = idle_timeout if idle_timeout is not None else timeout
    label = timeout_label if timeout_label is not None else timeout
    while rc is None:
        left = deadline - time.monotonic()
        if left <= 0:
            error = f"the device did not finish within {label:g} s (kept {len(out)} bytes)"
            break
        sock.settimeout(min(idle, left))
        try:
            chunk = sock.recv(1 << 20)
        except socket.timeout:
            if time.monotonic() >= deadline:
                error = f"the device did not finish within {label:g} s (kept {len(out)} bytes)"
            else:
                error = f"the device sent nothing for {idle:g} s (stalled; kept {len(out)} bytes)"
            break
        except OSError as e:
            error = f"the connection to the adb server broke: {e.strerror or e} (kept {len(out)} bytes)"
            break
        if not chunk:
            break
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
                out += body
            elif kind == 2:
                err += body
            elif kind == 3:
                rc = body[0] if body else 0
                break
        del buf[:pos]
    if rc is None and len(buf) > 5:
        # a packet cut in the middle: keep the part of it that arrived
        kind, _ln = _V2.unpack_from(buf, 0)
        if kind == 1:
            out += buf[5:]
        elif kind == 2:
            err += buf[5:]
    if rc is None and error is None:
        error = f"the stream ended before the command finished: the device went away (kept {len(out)} bytes)"
    return ShellResult(bytes(out), bytes(err), rc, error)


def shell(target: AdbTarget, serial: str, command: str, *, timeout: float = 30.0,
          idle_timeout: float | None = None, timeout_label: float | None = None) -> ShellResult:
    """Run one command with the shell v2 protocol (stdout, stderr and exit code kept apart)."""
    sock = open_service(target, serial, "shell,v2,raw:" + command, timeout=min(timeout, 15.0))
    try:
        return read_shell_v2(sock, timeout=timeout, idle_timeout=idle_timeout, timeout_label=timeout_label)
    finally:
        sock.close()


def device_state(target: AdbTarget, serial: str, timeout: float = 5.0) -> str | None:
    try:
        for d in list_devices(target.host, target.port, timeout=timeout, start_server=False):
            if d.serial == serial:
                return d.state
    except AdbError:
        return None
    return "gone"


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


# ---- the collector -------------------------------------------------------------------------
def collector_path() -> Path:
    """device_scripts/collect.sh of this checkout, or the copy shipped in the package."""
    here = Path(__file__).resolve().parent.parent
    for p in (here / "data" / "collect.sh", here.parent / "device_scripts" / "collect.sh"):
        if p.is_file():
            return p
    raise AdbError("the device collector (collect.sh) is missing from this installation")


@dataclass
class _Collector:
    data: bytes
    sha256: str
    mtime: int

    @property
    def size_mtime(self) -> str:
        return f"{len(self.data)}:{self.mtime}"


def _load_collector() -> _Collector:
    p = collector_path()
    data = p.read_bytes()
    return _Collector(data, hashlib.sha256(data).hexdigest(), int(p.stat().st_mtime))


def collector_command(token: str, collector: _Collector, how: str, *, dumpsys: bool = False,
                      dmabuf_dump: bool = False, fd_inodes: str = "auto") -> str:
    """The one shell command of a snapshot: run the installed collector if it is current, else
    print `@@TOKEN PUSH` (the token cannot occur in anything else the device prints)."""
    args = f"--token {token} --tmp {DEVICE_DIR}"
    if dumpsys:
        args += " --dumpsys"
    if dmabuf_dump:
        args += " --dmabuf-dump"
    if fd_inodes in ("always", "never"):
        args += f" --fd-inodes {fd_inodes}"
    run = f"sh {DEVICE_COLLECTOR} {args}"
    if how == "su0":
        run = f"su 0 {run}"
    elif how == "suc":
        run = f"su -c '{run}'"
    return (f"F={DEVICE_COLLECTOR}; "
            f"if s=$(sha256sum $F 2>/dev/null || toybox sha256sum $F 2>/dev/null); "
            f"then [ \"${{s%% *}}\" = {collector.sha256} ]; "
            f"else [ \"$(stat -c %s:%Y $F 2>/dev/null)\" = {collector.size_mtime} ]; fi "
            f"|| {{ echo '@@{token} PUSH'; exit 0; }}; exec {run}")


class AdbSession:
    """One device, its privilege decided once and the collector installed once; `collect()` per
    snapshot. Closing it restarts adbd unrooted if this session rooted it."""

    def __init__(self, target: AdbTarget, serial: str | None = None) -> None:
        self.target = target
        self.serial = serial or resolve_serial(target)
        self.privilege: str | None = None     # root | su | shell
        self.how = "plain"                    # plain | su0 | suc
        self.rooted_by_us = False
        self.note: str | None = None          # why coverage is reduced, when it is
        self._collector = _load_collector()
        self._lock = threading.Lock()

    # -- privilege
    def _sh(self, cmd: str, timeout: float = 15.0) -> ShellResult:
        return shell(self.target, self.serial, cmd, timeout=timeout)

    def _probe(self) -> None:
        mode = self.target.su
        r = self._sh("id -u; getprop ro.debuggable; command -v su")
        if r.error or r.exit_code is None:
            raise AdbError(f"device {self.serial}: {r.error or 'no answer'}")
        lines = r.stdout.decode("utf-8", "replace").splitlines() + ["", "", ""]
        uid, debuggable, su_path = lines[0].strip(), lines[1].strip(), lines[2].strip()
        if uid == "0":
            self.privilege, self.how = "root", "plain"
            return
        if mode == "never":
            self.privilege, self.how = "shell", "plain"
            self.note = "running as the shell user (--su never): other apps' fds and maps are not readable"
            return
        reasons = []
        if debuggable == "1":
            if self._adb_root(True):
                self.privilege, self.how, self.rooted_by_us = "root", "plain", True
                return
            reasons.append("`adb root` was refused")
        else:
            reasons.append("`adb root` needs a debuggable build (ro.debuggable=1)")
        if su_path:
            for how, cmd in (("su0", "su 0 id -u </dev/null"), ("suc", "su -c 'id -u' </dev/null")):
                t = self._sh(cmd, timeout=20.0)
                if t.stdout.strip() == b"0":
                    self.privilege, self.how = "su", how
                    return
            reasons.append(f"{su_path} did not grant root")
        else:
            reasons.append("there is no su")
        if mode == "require":
            raise AdbError(f"--su require: no root on {self.serial}: " + "; ".join(reasons))
        self.privilege, self.how = "shell", "plain"
        self.note = ("running as the shell user (" + "; ".join(reasons) + "): other apps' fds, maps and "
                     "debugfs are not readable, so coverage is reduced")

    def _adb_root(self, root: bool, timeout: float = 20.0) -> bool:
        """`adb root`/`adb unroot`: adbd restarts; wait until it is back with the wanted uid."""
        service = "root:" if root else "unroot:"
        sock = open_service(self.target, self.serial, service, timeout=10.0)
        try:
            sock.settimeout(10.0)
            reply = bytearray()
            while True:
                try:
                    c = sock.recv(4096)
                except OSError:
                    break
                if not c:
                    break
                reply += c
        finally:
            sock.close()
        text = reply.decode("utf-8", "replace").lower()
        if "already running as root" in text or "not running as root" in text:
            return root and "already" in text
        if "restarting" not in text:
            return False
        want = b"0" if root else None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = shell(self.target, self.serial, "id -u", timeout=5.0)
                if r.exit_code == 0:
                    uid = r.stdout.strip()
                    if (want is not None and uid == want) or (want is None and uid and uid != b"0"):
                        return True
            except AdbError:
                pass
            time.sleep(0.05)
        if root:
            raise AdbError(f"device {self.serial} did not come back within {timeout:g} s after `adb root`")
        return False

    # -- collection
    def collect(self, token: str, *, dumpsys: bool = False, dmabuf_dump: bool = False,
                fd_inodes: str = "auto", timeout: float = 60.0) -> CollectResult:
        if not token or not token.isalnum():
            raise AdbError("the collector token must be a non-empty alphanumeric string")
        with self._lock:
            t0 = time.monotonic()
            if self.privilege is None:
                self._probe()
            pushed = False
            for attempt in (0, 1):
                cmd = collector_command(token, self._collector, self.how, dumpsys=dumpsys, dmabuf_dump=dmabuf_dump,
                                        fd_inodes=fd_inodes)
                left = max(1.0, timeout - (time.monotonic() - t0))
                # dumpsys can think for a long while before it prints anything
                idle = min(left, 120.0 if dumpsys or dmabuf_dump else 30.0)
                r = shell(self.target, self.serial, cmd, timeout=left, idle_timeout=idle,
                          timeout_label=timeout)
                if r.stdout.startswith(f"@@{token} PUSH".encode()) and r.exit_code == 0:
                    if attempt:
                        raise AdbError(f"the collector copied to {DEVICE_COLLECTOR} on {self.serial} does not "
                                       "check out (sha256 differs after pushing it)")
                    push_bytes(self.target, self.serial, self._collector.data, DEVICE_COLLECTOR, mode=0o755,
                               mtime=self._collector.mtime, timeout=max(5.0, left))
                    pushed = True
                    if self.privilege == "root" and self.rooted_by_us:
                        # pushed by a rooted adbd: give the directory back to the shell user, or
                        # an unrooted run later could not write its temporary files there
                        self._sh(f"chown -R 2000:2000 {DEVICE_DIR}", timeout=max(5.0, left))
                    continue
                break
            error = r.error
            if error is not None:
                state = device_state(self.target, self.serial)
                if state not in (None, "device"):
                    error = f"device {self.serial} went away mid-snapshot (now {state}): {error}"
                else:
                    error = f"device {self.serial}: {error}"
                self.privilege = None             # decide again when it comes back
            elif not r.stdout.startswith(f"@@{token} HDR".encode()):
                msg = (r.stderr or r.stdout).decode("utf-8", "replace").strip()[:300]
                raise AdbError(f"the collector did not start on {self.serial} (exit {r.exit_code}): {msg or 'no output'}")
            return CollectResult(r.stdout, self.serial, r.stderr, r.exit_code, error, self.privilege or "shell",
                                 pushed, time.monotonic() - t0, self.note)

    def close(self) -> None:
        if self.rooted_by_us:
            self.rooted_by_us = False
            # never start an adb server just to unroot (it may be gone at exit)
            self.target = dataclasses.replace(self.target, start_server=False)
            try:
                self._adb_root(False, timeout=10.0)
            except AdbError:
                pass
            self.privilege = None

    def __enter__(self) -> "AdbSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_sessions: dict[tuple, AdbSession] = {}
_sessions_lock = threading.Lock()


def _session(target: AdbTarget) -> AdbSession:
    serial = resolve_serial(target)
    key = (target.host, target.port, serial, target.su)
    with _sessions_lock:
        s = _sessions.get(key)
        if s is None:
            s = _sessions[key] = AdbSession(target, serial)
    return s


def close_sessions(host: str | None = None, port: int | None = None) -> None:
    """Restart adbd unrooted wherever droidtrack rooted it, and forget the sessions (all of them,
    or those of one adb server). Also runs at exit."""
    with _sessions_lock:
        keys = [k for k in _sessions if (host is None or k[0] == host) and (port is None or k[1] == port)]
        sessions = [_sessions.pop(k) for k in keys]
    for s in sessions:
        s.close()


atexit.register(close_sessions)


def collect(target: AdbTarget, token: str, *, dumpsys: bool = False, dmabuf_dump: bool = False,
            fd_inodes: str = "auto", timeout: float = 60.0) -> CollectResult:
    """One snapshot's collector stream from the device: ONE `adb shell` once the collector is
    installed. Raises AdbError when nothing could be collected; a stream cut mid-way comes back
    with `error` set and every byte that arrived in `data`."""
    s = _session(target)
    try:
        return s.collect(token, dumpsys=dumpsys, dmabuf_dump=dmabuf_dump, fd_inodes=fd_inodes, timeout=timeout)
    except AdbError:
        with _sessions_lock:
            if _sessions.get((target.host, target.port, s.serial, target.su)) is s and not s.rooted_by_us:
                _sessions.pop((target.host, target.port, s.serial, target.su), None)
        raise


def session_note(target: AdbTarget) -> str | None:
    """Why coverage is reduced on this target (running as shell), once a collection decided it."""
    for (h, p, serial, su), s in list(_sessions.items()):
        if h == target.host and p == target.port and (target.serial in (None, serial)):
            return s.note
    return None


def clean(target: AdbTarget, timeout: float = 30.0) -> tuple[str, bool]:
    """Remove droidtrack's directory from the device. Returns (serial, something was removed)."""
    serial = resolve_serial(target)
    r = shell(target, serial, f"if [ -e {DEVICE_DIR} ]; then rm -rf {DEVICE_DIR} && echo removed; fi; "
                              f"[ -e {DEVICE_DIR} ] && echo still-there; true", timeout=timeout)
    if r.error:
        raise AdbError(f"device {serial}: {r.error}")
    out = r.stdout.decode("utf-8", "replace")
    if "still-there" in out:
        raise AdbError(f"could not remove {DEVICE_DIR} on {serial}: "
                       f"{r.stderr.decode('utf-8', 'replace').strip() or 'rm failed'}")
    with _sessions_lock:
        for k in [k for k in _sessions if k[2] == serial and k[0] == target.host and k[1] == target.port]:
            _sessions[k].privilege = None
    return serial, "removed" in out
