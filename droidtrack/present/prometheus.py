"""Prometheus metrics of the devices `droidtrack serve` samples (text exposition by prometheus_client).

    rows = device_rows(snap, acc, top=20)      one device's series, computed once per collection
    board = Board(); board.update(key, serial, rows, seconds)   or board.failed(key, serial, why, seconds)
    registry = board.registry()                 what /metrics serves (generate_latest(registry))

Every number comes from model/account.py (`account(snap)`): this module only names it. Label values
that come from the device (process names, packages, tags, exporters, the serial itself) go through
`safe()` (controls, bidi overrides and lone surrogates become visible escapes) and are cut to
`LABEL_MAX` characters; prometheus_client then escapes `\\`, `"` and newlines as the exposition
format requires. Cardinality is bounded per device: the `top` processes by PSS, then one
`process="other"` row holding the rest; exporters beyond `MAX_EXPORTERS` likewise.

A device whose collection fails (adb error, offline, a stream cut mid-way) keeps only `up 0`, its
counters and its last collection time: stale bytes are never served as current.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

from droidtrack.model import Snapshot
from droidtrack.model.account import Accounting
from droidtrack.present.text import safe

LABEL_MAX = 200
MAX_EXPORTERS = 30
KINDS = ("total", "userspace", "kernel_only", "unattributed", "fd_only", "mapped")
MEASURES = ("rss", "pss", "fd_only")


def label(s: object) -> str:
    v = safe(s)
    return v if len(v) <= LABEL_MAX else v[:LABEL_MAX - 1] + "…"


@dataclass
class Rows:
    """One device's series from one collection (labels after `serial`, value)."""
    dmabuf: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    buffers: int = 0
    tags: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    exporters: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    processes: list[tuple[tuple[str, ...], float]] = field(default_factory=list)
    process_count: int = 0
    coverage: float = 0.0
    info: tuple[str, ...] = ()
    reported: list[tuple[tuple[str, ...], float]] = field(default_factory=list)


def device_rows(snap: Snapshot, acc: Accounting, *, top: int = 20, coverage: float = 0.0) -> Rows:
    t = acc.totals
    r = Rows()
    r.dmabuf = [(("total",), t.bytes), (("userspace",), t.userspace), (("kernel_only",), t.kernel_only),
                (("unattributed",), t.unattributed), (("fd_only",), t.fd_only), (("mapped",), t.mapped)]
    r.buffers = t.buffers
    r.tags = [((label(k),), v) for k, v in sorted(t.by_tag.items())]
    exps = sorted(t.by_exporter.items(), key=lambda kv: (-kv[1], kv[0]))
    r.exporters = [((label(k),), v) for k, v in exps[:MAX_EXPORTERS]]
    if len(exps) > MAX_EXPORTERS:
        r.exporters.append((("other",), sum(v for _, v in exps[MAX_EXPORTERS:])))
    ranked = sorted(acc.processes.values(), key=lambda pa: (-pa.pss, -pa.rss, pa.pid))
    for pa in ranked[:top]:
        p = snap.processes.get(pa.pid)
        name = label(p.label if p else f"pid {pa.pid}")
        pkg = label((p.package if p else None) or "")
        for m in MEASURES:
            r.processes.append(((str(pa.pid), name, pkg, m), getattr(pa, m)))
    rest = ranked[top:]
    if rest:
        # the remainder's rows from account(), rolled up into one series per measure
        for m in MEASURES:
            r.processes.append((("", "other", "", m), sum(getattr(pa, m) for pa in rest)))
    r.process_count = len(snap.processes)
    r.coverage = coverage
    d = snap.device
    r.info = (label(d.model or ""), label(d.release or ""), label(d.sdk if d.sdk is not None else ""),
              label(d.kernel or ""), "root" if d.rooted else ("shell" if d.rooted is False else ""))
    r.reported = [((label(k),), v) for k, v in sorted(snap.reported.items())]
    return r


@dataclass
class DeviceState:
    serial: str                        # the label value
    server: str
    up: bool = False
    reason: str = ""
    rows: Rows | None = None
    seconds: float | None = None
    collections: int = 0
    failures: int = 0
    last_success: float | None = None


class Board:
    """What the exporter knows now, per device; a prometheus_client collector over it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._devices: dict[tuple, DeviceState] = {}
        self._servers: dict[str, bool] = {}
        self.cycles = 0
        self.last_cycle: float | None = None

    def _state(self, key: tuple, serial: str, server: str) -> DeviceState:
        st = self._devices.get(key)
        if st is None:
            st = self._devices[key] = DeviceState(label(serial), server)
        return st

    def update(self, key: tuple, serial: str, server: str, rows: Rows, seconds: float) -> None:
        with self._lock:
            st = self._state(key, serial, server)
            st.up, st.reason, st.rows, st.seconds = True, "", rows, seconds
            st.collections += 1
            st.last_success = time.time()

    def failed(self, key: tuple, serial: str, server: str, reason: str, seconds: float | None = None,
               attempted: bool = True) -> None:
        with self._lock:
            st = self._state(key, serial, server)
            st.up, st.reason, st.rows = False, reason, None
            if attempted:
                st.seconds = seconds
                st.collections += 1
                st.failures += 1

    def server(self, server: str, up: bool) -> None:
        with self._lock:
            self._servers[server] = up

    def known(self, server: str) -> list[tuple]:
        with self._lock:
            return [k for k, st in self._devices.items() if st.server == server]

    def cycle_done(self) -> None:
        with self._lock:
            self.cycles += 1
            self.last_cycle = time.monotonic()

    def states(self) -> list[DeviceState]:
        with self._lock:
            return sorted((DeviceState(**vars(s)) for s in self._devices.values()), key=lambda s: s.serial)

    def registry(self) -> CollectorRegistry:
        reg = CollectorRegistry(auto_describe=False)
        reg.register(self)
        return reg

    def collect(self):
        with self._lock:
            devs = sorted(self._devices.values(), key=lambda s: (s.serial, s.server))
            servers = sorted(self._servers.items())
            snapshot = [(s.serial, s.up, s.rows, s.seconds, s.collections, s.failures, s.last_success)
                        for s in devs]
        g = GaugeMetricFamily
        up = g("droidtrack_up", "1 when the device's last collection succeeded, 0 when it failed or the "
               "device is offline or gone", labels=["serial"])
        srv = g("droidtrack_adb_server_up", "1 when the adb server answered its last device listing", labels=["server"])
        for name, ok in servers:
            srv.add_metric([label(name)], 1.0 if ok else 0.0)
        dmabuf = g("droidtrack_dmabuf_bytes", "dma-buf bytes by kind (model/account.py's totals: every buffer "
                   "once)", labels=["serial", "kind"])
        nbuf = g("droidtrack_dmabuf_buffers", "dma-buf buffers seen", labels=["serial"])
        tags = g("droidtrack_tag_bytes", "dma-buf bytes by droidtrack tag", labels=["serial", "tag"])
        exps = g("droidtrack_exporter_bytes", "dma-buf bytes by exporter (the top ones, then 'other')",
                 labels=["serial", "exporter"])
        procs = g("droidtrack_process_bytes", "per-process dma-buf bytes: rss, pss (sums to the held bytes) and "
                  "fd_only (held by fd, mapped nowhere); the top processes by PSS, the rest as process='other'",
                  labels=["serial", "pid", "process", "package", "measure"])
        nproc = g("droidtrack_processes", "processes seen on the device", labels=["serial"])
        cov = g("droidtrack_coverage_ratio", "share of processes whose fds could be read (0 when the "
                "collection was cut)", labels=["serial"])
        secs = g("droidtrack_collect_seconds", "how long the last collection took", labels=["serial"])
        last = g("droidtrack_last_success_timestamp_seconds", "when the last collection succeeded",
                 labels=["serial"])
        info = g("droidtrack_device_info", "the device's model, Android release, SDK, kernel and privilege",
                 labels=["serial", "model", "release", "sdk", "kernel", "privilege"])
        rep = g("droidtrack_reported_bytes", "totals the kernel or framework reported themselves",
                labels=["serial", "source"])
        colls = CounterMetricFamily("droidtrack_collections", "collections attempted", labels=["serial"])
        fails = CounterMetricFamily("droidtrack_collect_failures", "collections that failed (adb error, "
                                    "device offline, stream cut)", labels=["serial"])
        for serial, ok, rows, seconds, n, nf, ls in snapshot:
            up.add_metric([serial], 1.0 if ok else 0.0)
            colls.add_metric([serial], n)
            fails.add_metric([serial], nf)
            if seconds is not None:
                secs.add_metric([serial], seconds)
            if ls is not None:
                last.add_metric([serial], ls)
            if rows is None:
                continue
            for fam, items in ((dmabuf, rows.dmabuf), (tags, rows.tags), (exps, rows.exporters),
                               (procs, rows.processes), (rep, rows.reported)):
                for labels, v in items:
                    fam.add_metric([serial, *labels], v)
            nbuf.add_metric([serial], rows.buffers)
            nproc.add_metric([serial], rows.process_count)
            cov.add_metric([serial], rows.coverage)
            info.add_metric([serial, *rows.info], 1.0)
        yield from (up, srv, dmabuf, nbuf, tags, exps, procs, nproc, cov, secs, last, info, rep, colls, fails)
