"""Snapshots for the TUI's tests, built directly from droidtrack.model classes.

`small(step)` is a phone-like device at sample `step` (a camera app that leaks one buffer per
step, a process whose name carries Rich markup and an ESC sequence, kernel-only buffers, a
process whose fds could not be read). `big(n_procs, n_buffers)` is the benchmark's device.
Deterministic: same arguments, same snapshot.
"""
from __future__ import annotations

import random

from droidtrack.model import Buffer, DeviceInfo, Holding, MapRef, Process, Snapshot, SourceStatus
from droidtrack.model.problems import Problem

T0 = 1_700_000_000.0   # 2023-11-14 22:13:20 UTC
MiB = 1 << 20

EVIL_NAME = "[bold red]pwn\x1b[31m"
EVIL_BUFFER = "[link=x]gralloc\x1b]0;title\x07"

DEVICE = DeviceInfo(serial="emulator-5554", model="Pixel 7", manufacturer="Google",
                    fingerprint="google/panther/panther:14/UQ1A/1:user/release-keys", release="14",
                    sdk=34, kernel="5.10.198-android14-6", uid=2000, selinux_context="u:r:shell:s0")


def _proc(pid: int, name: str, cmdline: str | None = None, readable: bool = True) -> Process:
    argv0 = cmdline or name
    app = argv0.startswith("com.")            # app processes run under an app uid
    uid = 10000 + sum(map(ord, argv0.split(":")[0])) % 9000 \
        if app else 1000
    return Process(pid=pid, name=name[:15], cmdline=(argv0,), uid=uid, ppid=1,
                   fds_readable=readable, maps_readable=readable)


def _fd(*fds: int) -> Holding:
    return Holding(fds=fds)


def _map(fd: int | None = None, start: int = 0x7000_0000, size: int = MiB, rss: int = 0) -> Holding:
    return Holding(fds=(fd,) if fd is not None else (),
                   maps=(MapRef(start, start + size, 0, "rw-s", rss=rss, pss=rss),))


def small(step: int = 0, *, evil: bool = True) -> Snapshot:
    procs = [
        _proc(1, "init", "/system/bin/init"),
        _proc(580, "composer", "/vendor/bin/hw/android.hardware.graphics.composer3-service.pixel"),
        _proc(612, "surfaceflinger", "/system/bin/surfaceflinger"),
        _proc(700, "provider@2.7", "/vendor/bin/hw/android.hardware.camera.provider@2.7-service"),
        _proc(1234, "system_server", "system_server"),
        _proc(2001, "ndroid.systemui", "com.android.systemui"),
        _proc(3100, "example.camera", "com.example.camera"),
        _proc(3101, "camera:remote", "com.example.camera:remote"),
        _proc(4000, "media.codec", "media.codec"),
        _proc(4500, "unreadable_app", "com.example.secret", readable=False),
        _proc(4501, "other_app", "com.example.other", readable=False),
    ]
    if evil:
        procs.append(_proc(6666, EVIL_NAME[:15], EVIL_NAME))
    if step >= 2:
        procs.append(_proc(5000, "youtube", "com.google.android.youtube"))
    bufs: list[Buffer] = []
    def add(ino: int, size: int, exporter: str, name: str, tag: str, rule: str, holders: dict[int, Holding],
            attached: tuple[str, ...] = ()) -> None:
        bufs.append(Buffer(key=f"ino:{ino}", size=size, inode=ino, exporter=exporter, name=name,
                           count=len(holders) + 1, attached=attached, holders=holders, tag=tag,
                           tag_rule=rule, sources=("bufinfo", "fdinfo"),
                           provenance={"size": "bufinfo", "name": "fdinfo"}))

    # display: framebuffers shared by composer, surfaceflinger and systemui
    for i in range(3):
        add(1001 + i, 8 * MiB, "system", f"FramebufferSurface#{i}", "graphics", "gralloc-names",
            {580: _fd(10 + i), 612: _map(20 + i, 0x7100_0000 + i * 0x100_0000, 8 * MiB), 2001: _fd(40 + i)},
            attached=("ae00000.qcom,mdss_mdp",))
    # GL textures of systemui
    for i in range(4):
        add(1011 + i, 2 * MiB, "qcom,system", f"GLConsumer#{i}", "gl", "gl-names",
            {2001: _map(50 + i, 0x7200_0000 + i * 0x20_0000, 2 * MiB, rss=4096)})
    # camera: preview buffers shared between provider and the app; the app leaks one per step
    for i in range(4 + step):
        add(2000 + i, 12 * MiB, "qcom,secure_camera" if i == 0 else "system-uncached", f"Camera3-Stream#{i}",
            "camera", "camera-holders", {700: _fd(30 + i), 3100: _fd(60 + i), 3101: _fd(61 + i)})
    # codec
    add(1021, 6 * MiB, "system", "c2.qti.avc.decoder", "multimedia", "codec-names",
        {4000: _fd(70), 1234: _fd(71)})
    if step >= 2:
        add(1022, 16 * MiB, "system", "AHardwareBuffer youtube", "multimedia", "codec-names",
            {5000: _map(80, 0x7400_0000, 16 * MiB), 4000: _fd(81)})
    if evil:
        add(1023, 3 * MiB, "system", EVIL_BUFFER, "other", "default", {6666: _fd(3)})
    # kernel-only: nobody holds them (one was held by system_server at step 0)
    add(1024, 4 * MiB, "system", "display-scratch", "display", "display-kernel", {})
    if step == 0:
        add(1025, 1 * MiB, "system", "orphan-later", "other", "default", {1234: _fd(90)})
    else:
        add(1025, 1 * MiB, "system", "orphan-later", "other", "default", {})
    buffers = {b.key: b for b in bufs}
    total = sum(b.size for b in bufs)
    sources = {
        "props": SourceStatus("ok"), "fdlinks": SourceStatus("partial", "2 of 12 processes denied"),
        "fdinfo": SourceStatus("partial", "permission denied for 2 processes"),
        "maps": SourceStatus("ok"), "bufinfo": SourceStatus("denied", "debugfs not readable as shell"),
        "sysfs_buffers": SourceStatus("ok"), "ion": SourceStatus("missing", "no /sys/kernel/ion"),
        "dumpsys": SourceStatus("skipped", "pass --dumpsys"),
    }
    problems = (Problem("fdinfo", "permission denied", path="/proc/4500/fdinfo/3"),)
    return Snapshot(time=T0 + 2.0 * step, device=DEVICE, buffers=buffers,
                    processes={p.pid: p for p in procs}, sources=sources, problems=problems,
                    reported={"sysfs.total": total, "dma_heap.total_pools": 24 * MiB},
                    origin="test:small")


def series(n: int, **kw) -> list[Snapshot]:
    return [small(i, **kw) for i in range(n)]


_TAGS = ("camera", "gl", "graphics", "multimedia", "display", "other")
_EXPORTERS = ("system", "system-uncached", "qcom,system", "qcom,secure_camera", "mali", "kgsl")


def big(n_procs: int = 2000, n_buffers: int = 20000, step: int = 0, seed: int = 7) -> Snapshot:
    """A device with n_procs processes holding n_buffers buffers. Each step, about 2% of the
    buffers change holders or are replaced, like a busy device between two refreshes."""
    rng = random.Random(seed)
    procs = {}
    for i in range(n_procs):
        pid = 1000 + i
        pkg = f"com.vendor{i % 400}.app{i % 37}" + (":svc" if i % 3 == 0 else "")
        procs[pid] = _proc(pid, pkg[-15:], pkg, readable=(i % 50 != 0))
    pids = list(procs)
    bufs = {}
    change = random.Random(seed * 1000 + step)
    for j in range(n_buffers):
        size = rng.choice((4096, 65536, MiB, 2 * MiB, 8 * MiB, 12 * MiB))
        nh = rng.choice((0, 1, 1, 1, 2, 2, 3))
        hp = rng.sample(pids, nh)
        replaced = change.random() < 0.02
        if replaced and hp:
            hp = hp[1:] + [change.choice(pids)]
        holders = {p: (_map(5, 0x7000_0000 + j * 0x1000, size) if (p + j) % 4 == 0 else _fd(3 + j % 500))
                   for p in hp}
        ino = 100_000 + j + (step * 1_000_000 if replaced else 0)
        tag = _TAGS[j % len(_TAGS)]
        bufs[f"ino:{ino}"] = Buffer(f"ino:{ino}", size, ino, _EXPORTERS[j % len(_EXPORTERS)],
                                    f"buf-{j}", len(holders) + 1, (), holders, tag, "bench")
    return Snapshot(time=T0 + 2.0 * step, device=DEVICE, buffers=bufs, processes=procs,
                    sources={"fdinfo": SourceStatus("ok"), "maps": SourceStatus("ok")},
                    origin="bench:big")
