"""A fake adbd: speaks the adb device transport over TCP so a real adb server can drive it.

`DeviceDouble(device_root)` listens on 127.0.0.1 (ephemeral port, never the 5555-5585 range the
adb server auto-registers as emulators) and serves `shell,v2:`, `shell:`, `exec:`, `sync:` (v1 and
v2 requests, no compression), `root:` and `unroot:`. Commands run in the `Sandbox` (mksh and
toybox over the fixture's device root, as uid 2000 unless rooted).

Everything runs on one asyncio loop in a background thread; the public methods are thread-safe
and meant to be called from tests. Faults (`Fault`) and states (`offline`, `unauthorized`) can be
changed at any time.
"""
from __future__ import annotations

import asyncio
import errno
import os
import secrets
import signal
import socket
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from droidtrack.double import protocol as P
from droidtrack.double.sandbox import SHELL_UID, Sandbox, may_access


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


class _Stream:
    HIGH = 2 * 1024 * 1024

    def __init__(self, conn: "_Conn", local: int, remote: int, service: str) -> None:
        self.conn = conn
        self.local = local
        self.remote = remote
        self.service = service
        self.out = bytearray()
        self.wake = asyncio.Event()
        self.ready = asyncio.Event()
        self.ready.set()                    # OPEN counts as READY: one WRTE may go right away
        self.space = asyncio.Event()
        self.space.set()
        self.inq: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._unacked = False
        self.closing = False
        self.closed = False
        self.sent = 0
        self.proc: asyncio.subprocess.Process | None = None
        self.tasks: list[asyncio.Task] = []
        self.stalled = False
        self.sender = asyncio.ensure_future(self._send_loop())

    # -- output towards the host
    def write(self, data: bytes) -> None:
        if data and not self.closed:
            self.out += data
            if len(self.out) >= self.HIGH:
                self.space.clear()
            self.wake.set()

    async def drain(self) -> None:
        while len(self.out) >= self.HIGH and not self.closed:
            await self.space.wait()

    def finish(self) -> None:
        """No more output: send what is queued, then CLSE."""
        self.closing = True
        self.wake.set()

    async def _send_loop(self) -> None:
        conn = self.conn
        try:
            while not self.closed:
                await self.wake.wait()
                if self.closed:
                    return
                if self.out:
                    await self.ready.wait()
                    if self.closed:
                        return
                    n = min(len(self.out), conn.maxdata)
                    chunk = bytes(self.out[:n])
                    fault = conn.dev._fault_for(self, len(chunk))
                    if fault is not None:
                        keep = max(0, fault.after_bytes - self.sent)
                        if keep:
                            self.ready.clear()
                            await conn.send(P.packet(P.A_WRTE, self.local, self.remote, chunk[:keep]))
                            self.sent += keep
                        await conn.dev._fire(fault, self, conn)
                        return
                    del self.out[:n]
                    self.ready.clear()
                    self.sent += n
                    await conn.send(P.packet(P.A_WRTE, self.local, self.remote, chunk))
                    if len(self.out) < self.HIGH:
                        self.space.set()
                    continue
                if self.closing:
                    # the last WRTE must be acknowledged before CLSE
                    await self.ready.wait()
                    if not self.closed:
                        self.closed = True
                        conn.streams.pop(self.local, None)
                        await conn.send(P.packet(P.A_CLSE, self.local, self.remote))
                    self.space.set()
                    return
                self.wake.clear()
        except (ConnectionError, OSError):
            self.close_local()
        except asyncio.CancelledError:
            raise

    # -- input from the host
    def deliver(self, data: bytes) -> None:
        self.inq.put_nowait(data)

    async def read(self) -> bytes | None:
        """Next chunk the host wrote, None once the stream closed. Asking for the next chunk
        acknowledges the previous one (OKAY only once consumed: real backpressure)."""
        if self._unacked:
            self._unacked = False
            if not self.closed:
                await self.conn.send(P.packet(P.A_OKAY, self.local, self.remote))
        data = await self.inq.get()
        if data is None:
            return None
        self._unacked = True
        return data

    # -- teardown
    def close_local(self) -> None:
        """The host closed the stream (CLSE) or the connection died: stop everything."""
        self.closed = True
        self.conn.streams.pop(self.local, None)
        self.inq.put_nowait(None)
        self.wake.set()
        self.ready.set()
        self.space.set()
        self.kill()
        for t in self.tasks:
            t.cancel()
        if self.stalled:
            self.sender.cancel()

    def kill(self) -> None:
        p = self.proc
        if p is not None and p.returncode is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


class _Conn:
    def __init__(self, dev: "DeviceDouble", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.dev = dev
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, _Stream] = {}
        self.next_id = 1
        self.connected = False
        self.maxdata = dev.config.maxdata
        self.dead = False
        self.pending_cnxn: int | None = None   # the host's CNXN, while we are offline
        self._send_lock = asyncio.Lock()

    async def send(self, pkt: bytes) -> None:
        if self.dead:
            raise ConnectionResetError("connection closed")
        cfg = self.dev.config
        if cfg.latency or cfg.bandwidth:
            async with self._send_lock:
                delay = cfg.latency + (len(pkt) / cfg.bandwidth if cfg.bandwidth else 0.0)
                await asyncio.sleep(delay)
                self.writer.write(pkt)
                await self.writer.drain()
            return
        self.writer.write(pkt)
        await self.writer.drain()

    def abort(self) -> None:
        if not self.dead:
            self.dead = True
            try:
                self.writer.transport.abort()
            except Exception:
                pass
        for s in list(self.streams.values()):
            s.close_local()

    async def answer_cnxn(self) -> None:
        self.connected = True
        self.pending_cnxn = None
        await self.send(P.packet(P.A_CNXN, P.A_VERSION, self.dev.config.maxdata, self.dev.banner()))

    async def run(self) -> None:
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                hdr = await self.reader.readexactly(P.HEADER.size)
                cmd, a0, a1, n, _check, magic = P.HEADER.unpack(hdr)
                if magic != cmd ^ 0xFFFFFFFF or n > 16 * 1024 * 1024:
                    break
                payload = await self.reader.readexactly(n) if n else b""
                await self.handle(cmd, a0, a1, payload)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.abort()
            self.dev._conns.discard(self)

    async def handle(self, cmd: int, a0: int, a1: int, payload: bytes) -> None:
        dev = self.dev
        if cmd == P.A_CNXN:
            for s in list(self.streams.values()):
                s.close_local()
            self.connected = False
            state = dev.config.state
            self.pending_cnxn = a1
            if state == "offline":
                return                          # not answered (yet): the host keeps it offline
            self.maxdata = max(256, min(dev.config.maxdata, a1 or P.MAX_PAYLOAD))
            if state == "unauthorized":
                await self.send(P.packet(P.A_AUTH, P.AUTH_TOKEN, 0, secrets.token_bytes(20)))
                return
            await self.answer_cnxn()
            return
        if cmd == P.A_AUTH:
            if dev.config.state == "unauthorized" and a0 == P.AUTH_SIGNATURE:
                # signature rejected: ask again; the host then offers its public key, which the
                # user never accepts
                await self.send(P.packet(P.A_AUTH, P.AUTH_TOKEN, 0, secrets.token_bytes(20)))
            return
        if not self.connected:
            return                              # packets before CNXN are ignored
        if cmd == P.A_OPEN:
            service = payload.rstrip(b"\0").decode("utf-8", "replace")
            if a1 != 0:                         # delayed_ack window while we never offered it
                await self.send(P.packet(P.A_CLSE, 0, a0))
                return
            handler = dev._service(service)
            if handler is None:
                await self.send(P.packet(P.A_CLSE, 0, a0))
                return
            local = self.next_id
            self.next_id += 1
            s = _Stream(self, local, a0, service)
            self.streams[local] = s
            dev._log_service(service)
            await self.send(P.packet(P.A_OKAY, local, a0))
            task = asyncio.ensure_future(dev._run_service(handler, s))
            s.tasks.append(task)
        elif cmd == P.A_OKAY:
            s = self.streams.get(a1)
            if s is not None:
                s.ready.set()
        elif cmd == P.A_WRTE:
            s = self.streams.get(a1)
            if s is None:
                await self.send(P.packet(P.A_CLSE, 0, a0))
            else:
                s.deliver(payload)
        elif cmd == P.A_CLSE:
            s = self.streams.get(a1)
            if s is not None:
                s.close_local()


class _Input:
    """Exact-size reads over a stream's incoming chunks (for the sync protocol)."""

    def __init__(self, stream: _Stream) -> None:
        self.s = stream
        self.buf = bytearray()

    async def read(self, n: int) -> bytes | None:
        while len(self.buf) < n:
            chunk = await self.s.read()
            if chunk is None:
                return None
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


class DeviceDouble:
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
        self._conns: set[_Conn] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None
        self._lock = threading.Lock()
        self.sandbox: Sandbox | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> "DeviceDouble":
        self.sandbox = Sandbox(self.device_root, props=self._props(), su=self.config.su,
                               rootless=self.config.rootless, tools=self.config.tools,
                               isolation=self.config.isolation)
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
        conn = _Conn(self, reader, writer)
        self._conns.add(conn)
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass                                  # shutting down

    def _log_service(self, service: str) -> None:
        with self._lock:
            self.services.append(service)

    def _fault_for(self, stream: _Stream, n: int) -> Fault | None:
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

    async def _fire(self, fault: Fault, stream: _Stream, conn: _Conn) -> None:
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

    async def _run_service(self, handler, s: _Stream) -> None:
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

    # ---- shell / exec ----------------------------------------------------------------------
    async def _svc_shell(self, s: _Stream, cmd: str, *, v2: bool, term: str | None) -> None:
        if self.on_command is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.on_command, cmd)
        sb = self.sandbox
        assert sb is not None
        uid = self.uid
        sb.set_self_uid(uid)
        proc = await asyncio.create_subprocess_exec(
            *sb.argv(cmd, uid), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE if v2 else asyncio.subprocess.STDOUT,
            env=sb.env(uid, term), cwd=sb.cwd, start_new_session=True, limit=1024 * 1024)
        s.proc = proc
        if s.closed:
            s.kill()

        async def pump(reader: asyncio.StreamReader, kind: int) -> None:
            while True:
                data = await reader.read(256 * 1024)
                if not data:
                    return
                s.write(P.shell_packet(kind, data) if v2 else data)
                await s.drain()

        async def feed() -> None:
            stdin = proc.stdin
            assert stdin is not None
            parser = P.ShellV2Reader() if v2 else None
            try:
                while True:
                    chunk = await s.read()
                    if chunk is None:
                        return
                    if parser is None:
                        stdin.write(chunk)
                        await stdin.drain()
                        continue
                    for kind, data in parser.feed(chunk):
                        if kind == P.SHELL_STDIN and data:
                            stdin.write(data)
                            await stdin.drain()
                        elif kind == P.SHELL_CLOSE_STDIN:
                            stdin.close()
            except (ConnectionError, BrokenPipeError):
                pass                              # the command stopped reading

        feeder = asyncio.ensure_future(feed())
        s.tasks.append(feeder)
        pumps = [pump(proc.stdout, P.SHELL_STDOUT)]
        if v2:
            pumps.append(pump(proc.stderr, P.SHELL_STDERR))
        await asyncio.gather(*pumps)
        rc = await proc.wait()
        if rc < 0:
            rc = 128 - rc
        feeder.cancel()
        if v2:
            s.write(P.shell_packet(P.SHELL_EXIT, bytes([rc & 0xFF])))
        s.finish()

    # ---- root / unroot -----------------------------------------------------------------------
    async def _svc_root(self, s: _Stream, root: bool) -> None:
        restart = False
        if root:
            if self.config.rooted:
                s.write(b"adbd is already running as root\n")
            elif not self.config.adb_root:
                s.write(b"adbd cannot run as root in production builds\n")
            else:
                s.write(b"restarting adbd as root\n")
                restart = True
        else:
            if not self.config.rooted:
                s.write(b"adbd not running as root\n")
            else:
                s.write(b"restarting adbd as non root\n")
                restart = True
        s.finish()
        if restart:
            # adbd restarts: once the reply is out the transport goes away, and the host
            # reconnects to an adbd running with the new uid
            try:
                await asyncio.wait_for(s.sender, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
            self.set_rooted(root)
            self._abort_all()

    # ---- sync -----------------------------------------------------------------------------------
    async def _svc_sync(self, s: _Stream) -> None:
        inp = _Input(s)
        sb = self.sandbox
        assert sb is not None
        while True:
            req = await inp.read(8)
            if req is None:
                return
            rid, n = P.SYNC_REQ.unpack(req)
            if rid == P.ID_QUIT:
                s.finish()
                return
            if n > 1024:
                self._sync_fail(s, "path too long")
                s.finish()
                return
            raw = await inp.read(n)
            if raw is None:
                return
            path = raw.decode("utf-8", "surrogateescape")
            if rid == P.ID_STAT:
                s.write(self._stat_v1(path))
            elif rid in (P.ID_STA2, P.ID_LST2):
                s.write(self._stat_v2(path, follow=rid == P.ID_STA2))
            elif rid in (P.ID_LIST, P.ID_LIS2):
                await self._list(s, path, v2=rid == P.ID_LIS2)
            elif rid == P.ID_SEND:
                dst, _, mode = path.rpartition(",")
                if not dst or not mode.isdigit():
                    dst, mode = path, "420"
                if not await self._recv_file(s, inp, dst, int(mode), 0):
                    return
            elif rid == P.ID_SND2:
                setup = await inp.read(12)
                if setup is None:
                    return
                _sid, mode, flags = P.SYNC_REQ.unpack(setup[:8]) + (int.from_bytes(setup[8:], "little"),)
                if not await self._recv_file(s, inp, path, mode, flags):
                    return
            elif rid == P.ID_RECV:
                await self._send_file(s, path, 0)
            elif rid == P.ID_RCV2:
                setup = await inp.read(8)
                if setup is None:
                    return
                await self._send_file(s, path, int.from_bytes(setup[4:], "little"))
            else:
                self._sync_fail(s, f"unknown sync request {req[:4]!r}")
                s.finish()
                return

    @staticmethod
    def _sync_fail(s: _Stream, msg: str) -> None:
        m = msg.encode()
        s.write(P.SYNC_REQ.pack(P.ID_FAIL, len(m)) + m)

    def _reachable(self, path: str) -> bool:
        """Every directory on the way to `path` is searchable by adbd's uid."""
        if self.uid == 0:
            return True
        assert self.sandbox is not None
        parts = [p for p in path.split("/") if p and p != "."]
        cur = ""
        for part in parts[:-1]:
            cur += "/" + part
            try:
                st = os.stat(self.sandbox.host_path(cur))
            except OSError:
                return True                       # missing: the caller reports that
            if stat.S_ISDIR(st.st_mode) and not may_access(st, self.uid, 1):
                return False
        return True

    def _lstat(self, path: str, follow: bool = False) -> tuple[os.stat_result | None, int]:
        assert self.sandbox is not None
        if not self._reachable(path):
            return None, errno.EACCES
        hp = self.sandbox.host_path(path)
        try:
            return (os.stat(hp) if follow else os.lstat(hp)), 0
        except OSError as e:
            return None, e.errno or errno.ENOENT

    def _stat_v1(self, path: str) -> bytes:
        st, _ = self._lstat(path)
        if st is None:
            return P.STAT_V1.pack(P.ID_STAT, 0, 0, 0)
        return P.STAT_V1.pack(P.ID_STAT, st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                              int(st.st_mtime) & 0xFFFFFFFF)

    def _stat_v2(self, path: str, follow: bool) -> bytes:
        rid = P.ID_STA2 if follow else P.ID_LST2
        st, err = self._lstat(path, follow)
        if st is None:
            return P.STAT_V2.pack(rid, err, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        return P.STAT_V2.pack(rid, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid,
                              st.st_gid, st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime))

    async def _list(self, s: _Stream, path: str, v2: bool) -> None:
        assert self.sandbox is not None
        hp = self.sandbox.host_path(path)
        names: list[str] = []
        try:
            st = os.stat(hp)
            if stat.S_ISDIR(st.st_mode) and may_access(st, self.uid, 5) and self._reachable(path):
                names = [".", ".."] + sorted(os.listdir(hp))
        except OSError:
            pass
        for name in names:
            try:
                st = os.lstat(os.path.join(hp, name))
            except OSError:
                continue
            nb = name.encode("utf-8", "surrogateescape")
            if v2:
                s.write(P.DENT_V2.pack(P.ID_DNT2, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink,
                                       st.st_uid, st.st_gid, st.st_size, int(st.st_atime),
                                       int(st.st_mtime), int(st.st_ctime), len(nb)) + nb)
            else:
                s.write(P.DENT_V1.pack(P.ID_DENT, st.st_mode & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF,
                                       int(st.st_mtime) & 0xFFFFFFFF, len(nb)) + nb)
            await s.drain()
        if v2:
            s.write(P.DENT_V2.pack(P.ID_DONE, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
        else:
            s.write(P.DENT_V1.pack(P.ID_DONE, 0, 0, 0, 0))

    def _check_writable(self, path: str) -> str | None:
        """None if the current adbd uid may create `path` (creating parents), else an error."""
        sb = self.sandbox
        assert sb is not None
        if sb.read_only(path):
            return "Read-only file system"
        if not self._reachable(path):
            return "Permission denied"
        hp = sb.host_path(path)
        d = hp.parent
        while not d.exists():
            d = d.parent
        try:
            st = os.stat(d)
        except OSError as e:
            return e.strerror
        if not stat.S_ISDIR(st.st_mode):
            return "Not a directory"
        if not may_access(st, self.uid, 3):
            return "Permission denied"
        if hp.exists() and not hp.is_dir():
            if not may_access(os.stat(hp), self.uid, 2):
                return "Permission denied"
        return None

    async def _recv_file(self, s: _Stream, inp: _Input, path: str, mode: int, flags: int) -> bool:
        """SEND/SND2: take DATA chunks until DONE, write the file. False if the stream died."""
        sb = self.sandbox
        assert sb is not None
        err = None
        if flags & ~P.SYNC_FLAG_DRY_RUN:
            err = f"remote unknown flags: {flags & ~P.SYNC_FLAG_DRY_RUN}"
        dry = bool(flags & P.SYNC_FLAG_DRY_RUN)
        if err is None:
            err = self._check_writable(path)
        hp = sb.host_path(path)
        tmp = hp.with_name(f".{hp.name}.dtpush{os.getpid()}")
        fh = None
        if err is None and not dry:
            try:
                d = hp.parent
                made = []
                while not d.exists():
                    made.append(d)
                    d = d.parent
                for d in reversed(made):
                    d.mkdir()
                    os.chmod(d, 0o771)
                    if self.uid:
                        os.chown(d, self.uid, self.uid)
                if stat.S_ISLNK(mode):
                    fh = bytearray()
                else:
                    fh = open(tmp, "wb")
            except OSError as e:
                err = f"couldn't create file: {e.strerror}"
        while True:
            head = await inp.read(8)
            if head is None:
                if hasattr(fh, "close"):
                    fh.close()
                    tmp.unlink(missing_ok=True)
                return False
            rid, n = P.SYNC_REQ.unpack(head)
            if rid == P.ID_DATA:
                if n > P.SYNC_DATA_MAX:
                    err = err or "data chunk too large"
                data = await inp.read(n)
                if data is None:
                    if hasattr(fh, "close"):
                        fh.close()
                        tmp.unlink(missing_ok=True)
                    return False
                if fh is not None and err is None:
                    if isinstance(fh, bytearray):
                        fh += data
                    else:
                        fh.write(data)
            elif rid == P.ID_DONE:
                mtime = n
                break
            else:
                err = err or f"unexpected sync id {head[:4]!r} during push"
                break
        if fh is not None:
            try:
                if isinstance(fh, bytearray):
                    if err is None:
                        if hp.is_symlink() or hp.exists():
                            hp.unlink()
                        os.symlink(bytes(fh).decode("utf-8", "surrogateescape"), hp)
                else:
                    fh.close()
                    if err is None:
                        os.chmod(tmp, mode & 0o7777 or 0o644)
                        if self.uid and not sb.rootless:
                            os.chown(tmp, self.uid, self.uid)
                        os.utime(tmp, (mtime, mtime))
                        os.replace(tmp, hp)
                    else:
                        tmp.unlink(missing_ok=True)
            except OSError as e:
                err = f"couldn't create file: {e.strerror}"
                tmp.unlink(missing_ok=True)
        if err is None:
            s.write(P.SYNC_REQ.pack(P.ID_OKAY, 0))
        else:
            self._sync_fail(s, err)
        return True

    async def _send_file(self, s: _Stream, path: str, flags: int) -> None:
        """RECV/RCV2: DATA chunks then DONE, coalesced into as few WRTEs as possible."""
        if flags:
            self._sync_fail(s, f"remote unknown flags: {flags}")
            return
        assert self.sandbox is not None
        hp = self.sandbox.host_path(path)
        try:
            if not self._reachable(path):
                raise PermissionError(errno.EACCES, "Permission denied")
            st = os.stat(hp)
            if stat.S_ISDIR(st.st_mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory")
            if not may_access(st, self.uid, 4):
                raise PermissionError(errno.EACCES, "Permission denied")
            f = open(hp, "rb")
        except OSError as e:
            self._sync_fail(s, f"open failed: {e.strerror}")
            return
        with f:
            while True:
                data = f.read(P.SYNC_DATA_MAX)
                if not data:
                    break
                s.write(P.SYNC_REQ.pack(P.ID_DATA, len(data)) + data)
                await s.drain()
        s.write(P.SYNC_REQ.pack(P.ID_DONE, 0))
