"""A live device through an adb server: the collector pushed once and run in ONE `adb shell` per
snapshot, with the privilege it gets. The wire protocol is in adb_wire.py, device selection in
adb_devices.py; their public names are re-exported here (`from droidtrack.sources import adb`).

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

import atexit
import dataclasses
import hashlib
import threading
import time
from dataclasses import dataclass

from droidtrack.collect.collector import script_path
from droidtrack.sources.adb_devices import (SLOW_SILENCE, SU_MODES, DeviceEntry, add_device_arguments, device_state,  # noqa: F401
                                            list_devices, parse_devices_l, resolve_serial, target_from_args)
from droidtrack.sources.adb_wire import (DEFAULT_HOST, DEFAULT_PORT, STATE_HINTS, AdbError, AdbTarget,  # noqa: F401
                                         ShellResult, open_service, push_bytes, read_shell_v2, shell)

DEVICE_DIR = "/data/local/tmp/droidtrack"
DEVICE_COLLECTOR = DEVICE_DIR + "/collect.sh"
DEVICE_TRACER = DEVICE_DIR + "/trace.sh"


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


# ---- the collector -------------------------------------------------------------------------
@dataclass
class _Collector:
    data: bytes
    sha256: str
    mtime: int

    @property
    def size_mtime(self) -> str:
        return f"{len(self.data)}:{self.mtime}"


def _load_collector(name: str = "collect.sh") -> _Collector:
    p = script_path(name)
    data = p.read_bytes()
    return _Collector(data, hashlib.sha256(data).hexdigest(), int(p.stat().st_mtime))


def collector_command(token: str, collector: _Collector, how: str, *, dumpsys: bool = False,
                      dmabuf_dump: bool = False, fd_inodes: str = "auto", packages: tuple[str, ...] = (),
                      focus: bool = False) -> str:
    """The one shell command of a snapshot: run the installed collector if it is current, else
    print `@@TOKEN PUSH` (the token cannot occur in anything else the device prints)."""
    args = f"--token {token} --tmp {DEVICE_DIR}"
    if dumpsys:
        args += " --dumpsys"
    if dmabuf_dump:
        args += " --dmabuf-dump"
    if fd_inodes in ("always", "never"):
        args += f" --fd-inodes {fd_inodes}"
    if how == "plain":
        # run-as passes only as the shell user (root reads every process itself); names were
        # checked by check_packages, so they need no quoting
        args += "".join(f" --package {p}" for p in packages)
        if packages and focus:
            args += " --focus"       # only the apps are read: the shell's own pass skips fds and maps
    return installed_command(token, collector, DEVICE_COLLECTOR, how, args)


def installed_command(token: str, collector: _Collector, path: str, how: str, args: str) -> str:
    """Run the device script at `path` with `args` if it is the current one, else print `@@TOKEN PUSH`."""
    run = f"sh {path} {args}"
    if how == "su0":
        run = f"su 0 {run}"
    elif how == "suc":
        run = f"su -c '{run}'"
    return (f"F={path}; "
            f"if s=$(sha256sum $F 2>/dev/null || toybox sha256sum $F 2>/dev/null); "
            f"then [ \"${{s%% *}}\" = {collector.sha256} ]; "
            f"else [ \"$(stat -c %s:%Y $F 2>/dev/null)\" = {collector.size_mtime} ]; fi "
            f"|| {{ echo '@@{token} PUSH'; exit 0; }}; exec {run}")


# sections that can think for a long while before they print anything (framework dumps)
SLOW_SECTIONS = (b"dumpsys_meminfo", b"dumpsys_gpu", b"dumpsys_surfaceflinger", b"dmabuf_dump")


def _patience(token: str):
    """How long the stream may be silent, asked only once it has been silent for the stall timeout:
    longer inside a framework dump the collector is waiting for, else no more."""
    begin = f"@@{token} BEGIN ".encode()

    def allowed(out: bytearray) -> float | None:
        i = out.rfind(begin)
        if i < 0:
            return None
        name = bytes(out[i + len(begin):out.find(b"\n", i)]).strip()
        if (name in SLOW_SECTIONS or name.startswith(b"dumpsys_meminfo:")) and out.find(f"@@{token} END ".encode(), i) < 0:
            return SLOW_SILENCE
        return None
    return allowed


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
                fd_inodes: str = "auto", timeout: float = 60.0, stall_timeout: float | None = None,
                packages: tuple[str, ...] = (), focus: bool = False) -> CollectResult:
        if not token or not token.isalnum():
            raise AdbError("the collector token must be a non-empty alphanumeric string")
        with self._lock:
            t0 = time.monotonic()
            if self.privilege is None:
                self._probe()
            cmd = collector_command(token, self._collector, self.how, dumpsys=dumpsys, dmabuf_dump=dmabuf_dump,
                                    fd_inodes=fd_inodes, packages=packages if self.privilege == "shell" else (), focus=focus)
            r, pushed = self._run_installed(token, self._collector, DEVICE_COLLECTOR, cmd, t0, timeout,
                                            idle_timeout=stall_timeout or self.target.stall_timeout,
                                            timeout_label=timeout, patience=_patience(token))
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

    def _run_installed(self, token: str, script: _Collector, path: str, cmd: str, t0: float, timeout: float,
                       **kw) -> tuple[ShellResult, bool]:
        """Run `cmd` (an installed_command); when the device answers PUSH, copy the script and run
        it again. Returns (the result, whether the script was pushed). With on_stdout (a stream),
        the start of stdout is held back until it is known not to be the PUSH answer."""
        push = f"@@{token} PUSH".encode()
        sink = kw.pop("on_stdout", None)
        pushed = False
        for attempt in (0, 1):
            left = max(1.0, timeout - (time.monotonic() - t0))
            head = bytearray()
            state = {"open": sink is None}

            def gate(data: bytes, head=head, state=state) -> None:
                if state["open"]:
                    sink(data)
                    return
                head.extend(data)
                if len(head) < len(push) and b"\n" not in head:
                    return
                if not head.startswith(push):
                    state["open"] = True
                    sink(bytes(head))
            r = shell(self.target, self.serial, cmd, timeout=left, **kw,
                      **({"on_stdout": gate} if sink is not None else {}))
            answered = r.stdout if sink is None else bytes(head) if not state["open"] else b""
            if r.exit_code == 0 and answered.startswith(push):
                if attempt:
                    raise AdbError(f"the script copied to {path} on {self.serial} does not "
                                   "check out (sha256 differs after pushing it)")
                push_bytes(self.target, self.serial, script.data, path, mode=0o755,
                           mtime=script.mtime, timeout=max(5.0, left))
                pushed = True
                if self.privilege == "root" and self.rooted_by_us:
                    # pushed by a rooted adbd: give the directory back to the shell user, or
                    # an unrooted run later could not write its temporary files there
                    self._sh(f"chown -R 2000:2000 {DEVICE_DIR}", timeout=max(5.0, left))
                continue
            if sink is not None and not state["open"] and head:
                sink(bytes(head))              # a short stream that never reached a newline
            break
        return r, pushed

    def trace(self, token: str, on_stdout, on_stderr, stop: threading.Event, *,
              timeout: float = 365 * 86400.0, args: str = "") -> ShellResult:
        """Stream device_scripts/trace.sh (installed like the collector) over ONE shell until `stop`
        is set (its stdin is closed then, and it ends its stream) or the device goes away."""
        if not token or not token.isalnum():
            raise AdbError("the trace token must be a non-empty alphanumeric string")
        with self._lock:
            t0 = time.monotonic()
            if self.privilege is None:
                self._probe()
            script = _load_collector("trace.sh")
            cmd = installed_command(token, script, DEVICE_TRACER, self.how, f"--token {token} {args}".strip())
            r, _pushed = self._run_installed(token, script, DEVICE_TRACER, cmd, t0, timeout,
                                             idle_timeout=self.target.stall_timeout, on_stdout=on_stdout,
                                             on_stderr=on_stderr, stop=stop)
            if r.error is not None:
                state = device_state(self.target, self.serial)
                if state not in (None, "device"):
                    r = dataclasses.replace(r, error=f"device {self.serial} went away mid-trace (now {state}): {r.error}")
                self.privilege = None
            return r

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
            fd_inodes: str = "auto", timeout: float = 60.0, packages: tuple[str, ...] = (),
            focus: bool = False) -> CollectResult:
    """One snapshot's collector stream from the device: ONE `adb shell` once the collector is
    installed. Raises AdbError when nothing could be collected; a stream cut mid-way comes back
    with `error` set and every byte that arrived in `data`."""
    s = _session(target)
    try:
        return s.collect(token, dumpsys=dumpsys, dmabuf_dump=dmabuf_dump, fd_inodes=fd_inodes, timeout=timeout,
                         stall_timeout=target.stall_timeout, packages=packages, focus=focus)
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
