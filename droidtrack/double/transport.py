"""The adb transport the double speaks to the host: one `Conn` per TCP connection (CNXN, AUTH,
OPEN/OKAY/WRTE/CLSE) and one `Stream` per opened service, with the host's flow control (one WRTE
in flight until its OKAY) and the faults a test injects (see device.Fault)."""
from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
from typing import TYPE_CHECKING

from droidtrack.double import protocol as P

if TYPE_CHECKING:
    from droidtrack.double.device import DeviceDouble


class Stream:
    HIGH = 2 * 1024 * 1024

    def __init__(self, conn: "Conn", local: int, remote: int, service: str) -> None:
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


class Conn:
    def __init__(self, dev: "DeviceDouble", reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.dev = dev
        self.reader = reader
        self.writer = writer
        self.streams: dict[int, Stream] = {}
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
            s = Stream(self, local, a0, service)
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
