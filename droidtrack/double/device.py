"""A fake adbd: speaks the adb device transport over TCP so a real adb server can drive it.

`DeviceDouble(device_root)` listens on 127.0.0.1 (ephemeral port, never the 5555-5585 range the
adb server auto-registers as emulators) and serves `shell,v2:`, `shell:`, `exec:`, `sync:` (v1 and
v2 requests, no compression), `root:` and `unroot:`. Commands run in the `Sandbox` (mksh and
toybox over the fixture's device root, as uid 2000 unless rooted; see sandbox.py for the fallbacks).

Layout: transport.py (connections, streams, flow control), one module per service
(shell_service.py: shell/exec and root/unroot; sync_service.py: sync), this module (the device:
lifecycle, state, faults, which service a stream opens). docs/adb-double.md says why.

Everything runs on one asyncio loop in a background thread; the public methods are thread-safe
and meant to be called from tests. Faults (`Fault`) and states (`offline`, `unauthorized`) can be
changed at any time.
"""
from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from droidtrack.double import protocol as P
from droidtrack.double.sandbox import SHELL_UID, Sandbox
from droidtrack.double.shell_service import ShellService
from droidtrack.double.sync_service import SyncService
from droidtrack.double.transport import Conn, Stream


@dataclass
class Fault:
    """Something that goes wrong on streams whose service string contains `match`.

    kind: "drop"  - after `after_bytes` bytes of the stream's output, the TCP connection is cut
                    (a pulled cable); with `offline=True` the device then stays unreachable;
          "stall" - after `after_bytes`, nothing more is sent on that stream (the command keeps
                    running; the host side must time out);
    """
    kind: str
    after_bytes: int = 0
    match: str = ""
    offline: bool = False
    once: bool = True
    fired: int = 0


@dataclass
class DeviceConfig:
    product: str | None = None       # default: the device root's build.prop, else "droidtrack_double"
    model: str | None = None
    device: str | None = None
    state: str = "device"           # device | unauthorized | offline
    rooted: bool = False            # adbd runs as root from the start
    adb_root: bool = True           # `adb root` allowed (a debuggable build)
    su: str = "none"                # none | aosp | magisk | deny
    props: dict[str, str] = field(default_factory=dict)
    maxdata: int = P.MAX_PAYLOAD
    bandwidth: float | None = None  # bytes/s for every packet sent to the host (slow link)
    latency: float = 0.0            # seconds added before every packet sent to the host
    rootless: bool | None = None    # None: rootless when not running as root (see sandbox.py)
    tools: str | None = None        # toybox | host | None (auto: toybox where mksh+toybox exist)
    isolation: str | None = None    # namespace | none | None (auto: namespace where possible)
    packages: dict[str, tuple[int, bool]] = field(default_factory=dict)  # run-as: name -> (uid, debuggable)



class DeviceDouble(ShellService, SyncService):
    """A fake Android device behind a TCP port; `with DeviceDouble(root) as d: d.serial`."""

    def __init__(self, device_root: str | os.PathLike, config: DeviceConfig | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or DeviceConfig()
        self.device_root = Path(device_root)
        self.host = host
        self._want_port = port
        self.port = 0
        self.faults: list[Fault] = []
        self.services: list[str] = []        # every service opened, in order
        self.errors: list[str] = []
        self.on_command: Callable[[str], None] | None = None   # called before a shell command runs
        self._conns: set[Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()
        self.sandbox: Sandbox | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> "DeviceDouble":
        self.sandbox = Sandbox(self.device_root, props=self._props(), su=self.config.su,
                               rootless=self.config.rootless, tools=self.config.tools,
                               isolation=self.config.isolation, packages=self.config.packages)
        if self.sandbox.rootless:
            self.config.rooted = True             # no uid 2000 in a user namespace
            self.sandbox.write_props(self._props())
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="device-double", daemon=True)
        self._thread.start()
        ready.wait()
        try:
            self._call(self._listen())
        except BaseException:
            self.stop()
            raise
        return self

    async def _listen(self) -> None:
        for _ in range(50):
            srv = await asyncio.start_server(self._accept, self.host, self._want_port)
            port = srv.sockets[0].getsockname()[1]
            if self._want_port or not (5553 <= port <= 5586):
                self._server, self.port = srv, port
                return
            srv.close()                          # the adb server would auto-register it as an emulator
        raise RuntimeError("no free port outside 5553-5586")

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                self._call(self._shutdown(), timeout=10)
            except Exception:
                pass
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not None:
                self._thread.join(timeout=10)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = None
        if self.sandbox is not None:
            self.sandbox.close()
            self.sandbox = None

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for c in list(self._conns):
            c.abort()
        await asyncio.sleep(0)
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def __enter__(self) -> "DeviceDouble":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def serial(self) -> str:
        return f"{self.host}:{self.port}"

    def _call(self, coro, timeout: float = 30):
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _props(self) -> dict[str, str]:
        c = self.config
        props = {"ro.debuggable": "1" if c.adb_root else "0",
                 "ro.build.type": "userdebug" if c.adb_root else "user",
                 "service.adb.root": "1" if c.rooted else "0"}
        for key, v in (("ro.product.name", c.product), ("ro.product.model", c.model),
                       ("ro.product.device", c.device)):
            if v is not None:
                props[key] = v
        props.update(c.props)
        return props

    def banner(self) -> bytes:
        p = self.sandbox.props if self.sandbox is not None else {}

        def clean(v: str) -> str:
            return v.replace(";", "_").replace("=", "_").replace(",", "_")

        b = (f"device::ro.product.name={clean(p.get('ro.product.name', 'droidtrack_double'))};"
             f"ro.product.model={clean(p.get('ro.product.model', 'Double'))};"
             f"ro.product.device={clean(p.get('ro.product.device', 'double'))};features={','.join(P.FEATURES)}").encode()
        return b[:4096]

    # ---- fixture controls (thread-safe) -----------------------------------------------------
    def set_state(self, state: str) -> None:
        """device | unauthorized | offline. Changing state drops current connections, as a
        replugged cable would; the adb server reconnects on its own schedule. Going from offline
        to device answers the handshake the server is waiting on, so it comes back at once."""
        if state not in ("device", "unauthorized", "offline"):
            raise ValueError(state)
        was = self.config.state
        self.config.state = state
        if was == "offline" and state == "device" and self._loop is not None:
            # the device finally answers the handshake the host is waiting on
            self._call(self._wake_pending())
            return
        self.disconnect()

    async def _wake_pending(self) -> None:
        for c in list(self._conns):
            if c.pending_cnxn is not None and not c.dead:
                try:
                    await c.answer_cnxn()
                except (ConnectionError, OSError):
                    pass

    def disconnect(self) -> None:
        """Cut every TCP connection (the adb server sees the device go away)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._abort_all)

    def _abort_all(self) -> None:
        for c in list(self._conns):
            c.abort()

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def set_su(self, style: str) -> None:
        self.config.su = style
        assert self.sandbox is not None
        self.sandbox.set_su(style)

    def set_props(self, props: dict[str, str]) -> None:
        assert self.sandbox is not None
        self.config.props.update(props)
        self.sandbox.write_props(self._props())

    def set_rooted(self, rooted: bool) -> None:
        self.config.rooted = rooted
        if self.sandbox is not None:
            self.sandbox.write_props(self._props())

    def set_dumpsys(self, args: str, text: str | bytes | None) -> None:
        """What `dumpsys ARGS` prints (the device root's dumpsys/*.txt are used first)."""
        assert self.sandbox is not None
        self.sandbox.set_dumpsys(args, text)

    def set_dmabuf_dump(self, text: str | bytes | None) -> None:
        assert self.sandbox is not None
        self.sandbox.set_dmabuf_dump(text)

    def shell_services(self) -> list[str]:
        return [s for s in self.services if s.startswith(("shell", "exec:"))]

    def device_path(self, path: str) -> Path:
        """Host path of a device path (e.g. to check what was pushed to /data/local/tmp)."""
        assert self.sandbox is not None
        return self.sandbox.host_path(path)

    # ---- internals ----------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(self, reader, writer)
        self._conns.add(conn)
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass                                  # shutting down

    def _log_service(self, service: str) -> None:
        with self._lock:
            self.services.append(service)

    def _fault_for(self, stream: Stream, n: int) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.once and f.fired:
                    continue
                if f.match and f.match not in stream.service:
                    continue
                if not f.match and not stream.service.startswith(("shell", "exec:")):
                    continue
                if stream.sent + n > f.after_bytes:
                    f.fired += 1
                    return f
        return None

    async def _fire(self, fault: Fault, stream: Stream, conn: Conn) -> None:
        if fault.kind == "stall":
            stream.stalled = True
            await asyncio.Event().wait()        # until the stream is cancelled/closed
        elif fault.kind == "drop":
            if fault.offline:
                self.config.state = "offline"
            conn.abort()
        else:
            raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _service(self, service: str):
        if service.startswith("shell"):
            head, sep, cmd = service.partition(":")
            if not sep:
                return None
            opts = head.split(",")[1:]
            v2 = "v2" in opts
            term = next((o[5:] for o in opts if o.startswith("TERM=")), None)
            return lambda s: self._svc_shell(s, cmd, v2=v2, term=term)
        if service.startswith("exec:"):
            return lambda s: self._svc_shell(s, service[5:], v2=False, term=None)
        if service == "sync:":
            return self._svc_sync
        if service == "root:":
            return lambda s: self._svc_root(s, True)
        if service == "unroot:":
            return lambda s: self._svc_root(s, False)
        return None

    async def _run_service(self, handler, s: Stream) -> None:
        try:
            await handler(s)
        except asyncio.CancelledError:
            s.kill()
            raise
        except (ConnectionError, OSError) as e:
            if not s.closed:
                self.errors.append(f"{s.service}: {e!r}")
        except Exception as e:                   # a bug in the double: record it, close the stream
            self.errors.append(f"{s.service}: {e!r}")
        finally:
            s.kill()
            if not s.closed:
                s.finish()

    @property
    def uid(self) -> int:
        return 0 if self.config.rooted else SHELL_UID
