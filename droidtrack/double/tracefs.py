"""A tracefs for the device double: what trace.sh needs to stream dma_buf events from a device root.

`TraceFS(root).start(rate)` lays out ROOT/sys/kernel/tracing as a 7.x kernel shows it to the top
level (events/dma_buf/<event>/{enable,format}, events/sched/sched_process_exit, per_cpu/cpu0/stats,
options/record-tgid, buffer_size_kb; no instances/ directory, so trace.sh traces the top level)
with trace_pipe and trace_marker as FIFOs, and a thread that writes synthetic events into
trace_pipe at `rate` events a second (0: as fast as the reader takes them) once a reader opens it,
in the kernel's exact line format, while events/dma_buf/enable says 1; what trace.sh writes to trace_marker comes out of trace_pipe as
a tracing_mark_write line, as on a kernel. The events are a workload of processes exporting
system-heap buffers, installing fds, mapping them, importing them into a GPU and exiting.

Separate from the double's sandbox (it only writes files under the root the double serves):
tests and bench/trace_bench.py start it beside a DeviceDouble, or alone for `trace --root`.
"""
from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

FORMATS = {
    "dma_buf_export": "exp_name=%s size=%zu ino=%lu", "dma_buf_put": "exp_name=%s size=%zu ino=%lu",
    "dma_buf_mmap": "exp_name=%s size=%zu ino=%lu", "dma_buf_mmap_internal": "exp_name=%s size=%zu ino=%lu",
    "dma_buf_fd": "exp_name=%s size=%zu ino=%lu fd=%d", "dma_buf_get": "exp_name=%s size=%zu ino=%lu fd=%d",
    "dma_buf_dynamic_attach": "exp_name=%s size=%zu ino=%lu attachment:%p is_dynamic=%d dev_name=%s",
    "dma_buf_detach": "exp_name=%s size=%zu ino=%lu attachment:%p is_dynamic=%d dev_name=%s",
}


def workload(start_ino: int = 1000, procs: int = 50):
    """Endless synthetic event lines: (kind, line). Each cycle one process exports a buffer, gets
    an fd, maps it, a GPU imports it (get, attach, put), and now and then the process exits."""
    ino, t, n = start_ino, 100.0, 0
    comms = [f"app {i}" if i % 3 else f"cam-{i} hal" for i in range(procs)]   # spaces and dashes
    while True:
        p = n % procs
        pid = 2000 + p
        head = f"{comms[p]:>16}-{pid:<7} ({pid:>7}) [{p % 8:03d}] ....."

        def line(ev: str, args: str) -> str:
            nonlocal t
            t += 0.000013
            return f"{head} {t:12.6f}: {ev}: {args}"
        size = 4096 * (1 + n % 64)
        base = f"exp_name=system size={size} ino={ino}"
        yield "export", line("dma_buf_export", base)
        yield "fd", line("dma_buf_fd", f"{base} fd={10 + n % 900}")
        yield "mmap_internal", line("dma_buf_mmap_internal", base)
        yield "get", line("dma_buf_get", f"{base} fd={10 + n % 900}")
        yield "dynamic_attach", line("dma_buf_dynamic_attach",
                                     f"{base} attachment:(____ptrval____) is_dynamic=0 dev_name=kgsl-3d0")
        yield "put", line("dma_buf_put", base)
        if n % 10 == 9:
            yield "exit", f"{head} {t:12.6f}: sched_process_exit: comm={comms[p]} pid={pid} prio=120 group_dead=true"
        ino += 1
        n += 1


class TraceFS:
    def __init__(self, root: str | os.PathLike) -> None:
        self.dir = Path(root) / "sys" / "kernel" / "tracing"
        self.written = 0
        self.readers = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def layout(self) -> "TraceFS":
        d = self.dir
        for ev, fmt in FORMATS.items():
            e = d / "events" / "dma_buf" / ev
            e.mkdir(parents=True, exist_ok=True)
            (e / "enable").write_text("0\n")
            (e / "format").write_text(f"name: {ev}\nprint fmt: \"{fmt}\", ...\n")
        (d / "events" / "dma_buf" / "enable").write_text("0\n")
        ex = d / "events" / "sched" / "sched_process_exit"
        ex.mkdir(parents=True, exist_ok=True)
        (ex / "enable").write_text("0\n")
        (ex / "format").write_text('name: sched_process_exit\nprint fmt: "comm=%s pid=%d prio=%d group_dead=%s", ...\n')
        (d / "per_cpu" / "cpu0").mkdir(parents=True, exist_ok=True)
        (d / "per_cpu" / "cpu0" / "stats").write_text("entries: 0\noverrun: 0\ndropped events: 0\n")
        (d / "options").mkdir(exist_ok=True)
        (d / "options" / "record-tgid").write_text("0\n")
        (d / "buffer_size_kb").write_text("1408\n")
        for fifo in ("trace_pipe", "trace_marker"):
            p = d / fifo
            if not p.exists():
                os.mkfifo(p, 0o666)
        return self

    def start(self, rate: float = 10000.0, limit: int | None = None) -> "TraceFS":
        self.layout()
        self._marks: list[str] = []
        self._lock = threading.Lock()
        for fn in (lambda: self._pipe(rate, limit), self._marker):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _marker(self) -> None:
        while not self._stop.is_set():
            try:
                with open(self.dir / "trace_marker", "r", encoding="utf-8", errors="replace") as f:
                    for text in f:
                        with self._lock:
                            self._marks.append(text.rstrip("\n"))
            except OSError:
                time.sleep(0.05)

    def _pipe(self, rate: float, limit: int | None) -> None:
        gen = workload()
        while not self._stop.is_set():
            try:
                fd = os.open(self.dir / "trace_pipe", os.O_WRONLY)     # waits for a reader
            except OSError:
                time.sleep(0.05)
                continue
            self.readers += 1
            t0, sent = time.monotonic(), 0
            try:
                while not self._stop.is_set():
                    with self._lock:
                        marks, self._marks = self._marks, []
                    lines = [f"{'sh':>16}-{1:<7} ({1:>7}) [000] ...1. {time.monotonic():12.6f}: tracing_mark_write: {m}"
                             for m in marks]
                    enabled = (self.dir / "events/dma_buf/enable").read_bytes()[:1] == b"1"
                    if not enabled or (limit is not None and self.written >= limit):
                        due = 0
                    elif rate > 0:
                        due = int((time.monotonic() - t0) * rate) - sent
                    else:
                        due = 500
                    if limit is not None:
                        due = min(due, limit - self.written)
                    for _ in range(max(0, due)):
                        lines.append(next(gen)[1])
                    sent += max(0, due)
                    if lines:
                        os.write(fd, ("\n".join(lines) + "\n").encode())
                        self.written += max(0, due)
                    else:
                        time.sleep(0.005)
            except OSError as e:
                if e.errno not in (errno.EPIPE, errno.EBADF):
                    raise
            finally:
                os.close(fd)

    def stop(self) -> None:
        self._stop.set()
        # wake the threads blocked in open(): a writer for the marker, a reader for the pipe
        for name, flags in (("trace_marker", os.O_WRONLY | os.O_NONBLOCK), ("trace_pipe", os.O_RDONLY | os.O_NONBLOCK)):
            try:
                os.close(os.open(self.dir / name, flags))
            except OSError:
                pass
        for t in self._threads:
            t.join(2)
