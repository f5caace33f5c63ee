"""The built-in demo device: a simulated phone served by the device double behind a real adb server.

The scenario: a phone whose camera app (com.example.camera) leaks preview buffers - every
snapshot it holds two more 3.5 MiB CAMERA buffers by fd only, mapped nowhere, so no RSS shows
them - while SurfaceFlinger (framebuffers and app layers, mapped), the graphics allocator HAL,
the camera provider, a media codec and the GPU driver (kernel-only imports) hold the rest.
The leak is the owner story (docs/owners.md): the camera provider that filled each leaked buffer
keeps an fd to it too, and SurfaceFlinger, whose preview layer had it queued, one of each pair,
so by PSS the leak is split among the three and SurfaceFlinger and the provider seem to grow;
their owner is the app (rule "app holder"), which is charged every byte of it. Each collection
sees a later step, so `droidtrack top --demo` and `droidtrack demo` show growth, leak suspects,
owners and kernel-only bytes with no phone.

    with start_demo_device() as (adb_port, serial):
        ... droidtrack's adb source with -P adb_port -s serial ...

It needs no adb server of its own: it starts one (the adbutils wheel's adb) on a free port with
HOME/TMPDIR in a temporary directory, and stops it at exit. It needs Linux and Python only: with
mksh and toybox and mount namespaces the phone runs Android's own shell and applets in a private
namespace; without them the host's sh and utilities, directly on the host if need be (see
double/sandbox.py); it says once on stderr which. The phone's serial is 127.0.0.1:47150 (the
first free port of SERIAL_PORTS), the same every run.
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Iterator

from droidtrack.sim.synth import DeviceTree

MiB = 1024 * 1024
PREVIEW = 3686400            # 1280x720 RGBA
FRAME = 8294400              # 1920x1080 RGBA
LEAK_PER_STEP = 2
LEAK_MAX_STEPS = 60          # then the app is "killed by the low-memory killer" and it starts over
LEAK_INODE = 1000            # the first leaked buffer's inode (the constant buffers have 2..29)
CODEC_BUFFERS = 5
SERIAL_PORTS = range(47150, 47170)   # the demo phone listens on the first free one: its serial
                                     # (127.0.0.1:47150) stays the same from run to run

PID_SF = 612
PID_ALLOC = 588
PID_CAMPROV = 701
PID_CODEC = 845
PID_SYSUI = 1622
PID_CAMERA = 4321
PID_LAUNCHER = 2210
PID_SYSTEM = 1021


BUILDS = ("userdebug", "user")
DEBUGGABLE_PACKAGE = "com.example.camera"     # the app under development: run-as works for it
# what run-as knows: name -> (uid, debuggable)
PACKAGES = {DEBUGGABLE_PACKAGE: (10123, True), "com.android.systemui": (10087, False),
            "com.google.android.apps.nexuslauncher": (10112, False)}


class DemoError(Exception):
    """The demo device cannot start here. The message is for the user."""
    exit_code = 2


def leaked_inodes(step: int) -> list[int]:
    """The inodes of the buffers the camera app has leaked by `step`. As on a kernel, a buffer
    keeps its inode while it lives and a new one takes the next free number: the leak adds
    LEAK_PER_STEP new inodes per step; when the app restarts (every LEAK_MAX_STEPS) they go, and
    the next leak continues the numbering."""
    life, leak_steps = divmod(step, LEAK_MAX_STEPS)
    first = LEAK_INODE + life * LEAK_PER_STEP * (LEAK_MAX_STEPS - 1)
    return list(range(first, first + LEAK_PER_STEP * leak_steps))


def build_step(step: int, build: str = "userdebug") -> DeviceTree:
    """The phone at `step` (0, 1, 2, ...): everything constant except the camera app's leak (and
    which codec buffer is mapped). The constant buffers keep their inodes from step to step.

    build "user": the same phone as a user build (ro.debuggable=0) read by the shell user: no
    debugfs, sysfs stats denied, every other uid's fd, fdinfo, maps and smaps denied (each
    /proc/<pid> owned by its process's uid, so that `run-as` its app reads its own), and the
    framework dumps a shell may run: `dumpsys meminfo` (also per package) and `dumpsys gpu --gpumem`."""
    if build not in BUILDS:
        raise ValueError(f"build: one of {', '.join(BUILDS)}")
    user = build == "user"
    leak_steps = step % LEAK_MAX_STEPS
    t = DeviceTree("a13-5.15", props={"ro.product.model": "Pixel Demo", "ro.product.device": "demo",
                                      "ro.product.name": "droidtrack_demo", "ro.product.manufacturer": "droidtrack",
                                      "ro.build.type": build, "ro.debuggable": "0" if user else "1"},
                   gpu="mali", pool_bytes=12 * MiB, seed=7, shell_uid=2000 if user else 0,
                   debugfs=False if user else None, proc_owners=user)
    t.add_process(PID_ALLOC, "allocator@2.0-", uid=1000,
                  cmdline=("/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service",), oom_score_adj=-1000)
    t.add_process(PID_SF, "surfaceflinger", cmdline=("/system/bin/surfaceflinger",), uid=1000, oom_score_adj=-1000)
    t.add_process(PID_CAMPROV, "provider@2.7-se", uid=1047,
                  cmdline=("/vendor/bin/hw/android.hardware.camera.provider@2.7-service",), oom_score_adj=-1000)
    t.add_process(PID_CODEC, "android.hardwar", uid=1046,
                  cmdline=("/vendor/bin/hw/android.hardware.media.c2@1.2-service",), oom_score_adj=-1000)
    t.add_process(PID_SYSTEM, "system_server", cmdline=("system_server",), uid=1000, oom_score_adj=-900)
    t.add_process(PID_SYSUI, "ndroid.systemui", cmdline=("com.android.systemui",), uid=10087, oom_score_adj=-800)
    t.add_process(PID_LAUNCHER, "apps.nexuslaunc", cmdline=("com.google.android.apps.nexuslauncher",),
                  uid=10112, oom_score_adj=100)
    t.add_process(PID_CAMERA, "example.camera", cmdline=("com.example.camera",), uid=10123, oom_score_adj=0)

    # SurfaceFlinger: three framebuffers (scanout, mapped and resident) and the app layers it composes
    for i in range(3):
        fb = t.add_buffer(FRAME, name="FramebufferSurface", attached=("ae00000.display",))
        t.hold_fd(PID_SF, fb)
        t.hold_map(PID_SF, fb, rss=FRAME)
    for owner, name, n in ((PID_SYSUI, "StatusBar", 3), (PID_LAUNCHER, "Launcher", 3),
                           (PID_CAMERA, "SurfaceView[com.example.camera]", 3)):
        for _ in range(n):
            b = t.add_buffer(FRAME if owner != PID_SYSUI else 1 * MiB, name=name, attached=("ae00000.display",))
            t.hold_fd(PID_SF, b)
            t.hold_fd(owner, b)
            t.hold_map(owner, b, rss=min(b.size, 2 * MiB))
    # the allocator HAL keeps a small pool handed out on demand
    for _ in range(2):
        b = t.add_buffer(PREVIEW, name="gralloc-pool")
        t.hold_fd(PID_ALLOC, b)
    # the camera pipeline: the provider's working buffers, shared with the app
    for i in range(4):
        b = t.add_buffer(PREVIEW, name="CAMERA", attached=("soc:qcom,cam_smmu",))
        t.hold_fd(PID_CAMPROV, b)
        t.hold_fd(PID_CAMERA, b)
    # a video codec cycling through its five output buffers: it maps the one it decodes into
    for i in range(CODEC_BUFFERS):
        b = t.add_buffer(1536000, name="c2-output", attached=("soc:qcom,msm_vidc",))
        t.hold_fd(PID_CODEC, b)
        if i == step % CODEC_BUFFERS:
            t.hold_map(PID_CODEC, b, rss=0)
    # the GPU driver's own imports: held by the kernel only, visible to no process
    for i in range(5):
        t.add_buffer(2 * MiB, name="mali-import", kernel_refs=1)
    # the leak: preview buffers the app keeps by fd after the preview stopped using them (added
    # last, with inodes above every constant buffer's, so that none of those ever moves). The
    # provider that filled them waits for the app to return them, so it holds each too, and
    # SurfaceFlinger still has one of each pair latched on the app's preview layer: holders the
    # app shares them with, owned by the app
    for i, ino in enumerate(leaked_inodes(step)):
        b = t.add_buffer(PREVIEW, name="CAMERA", inode=ino)
        t.hold_fd(PID_CAMERA, b)
        t.hold_fd(PID_CAMPROV, b)
        if i % 2:
            t.hold_fd(PID_SF, b)
    t.gpu_usage(PID_SF, private=48 * MiB, imported=24 * MiB)
    t.gpu_usage(PID_CAMERA, private=(20 + 2 * leak_steps) * MiB)
    t.gpu_usage(PID_SYSUI, private=12 * MiB)
    t.set_dumpsys("meminfo", _meminfo(leak_steps))
    if user:
        for pid, p in t.processes.items():
            if p.uid != 2000:
                t.deny(pid, "fd")
        t.deny_path("sys/kernel/dmabuf/buffers")
        t.set_dumpsys("gpu --gpumem", _gpumem(t))
        t.set_dumpsys(f"meminfo {DEBUGGABLE_PACKAGE}", _app_meminfo(PID_CAMERA, DEBUGGABLE_PACKAGE,
                                                                    (20 + 2 * leak_steps) * MiB))
    return t


def _gpumem(t: DeviceTree) -> str:
    # `dumpsys gpu --gpumem` (the gpu_mem BPF program's per-process totals), from the same figures
    total = sum(p.gpu.get("private", 0) + p.gpu.get("imported", 0) for p in t.processes.values())
    out = ["Memory snapshot for GPU 0:", f"Global total: {total}"]
    for pid, p in sorted(t.processes.items()):
        if p.gpu:
            imp = p.gpu.get("imported", 0)
            out.append(f"Proc {pid} total: {p.gpu.get('private', 0) + imp}" + (f", imported: {imp}" if imp else ""))
    return "\n".join(out) + "\n"


def _app_meminfo(pid: int, package: str, gl: int) -> str:
    # `dumpsys meminfo PKG`: the memtrack HAL's rows for one app (KB)
    gl_kb, egl_kb = gl // 1024, 3 * FRAME // 1024
    return (f"Applications Memory Usage (in Kilobytes):\nUptime: 8123456 Realtime: 8123456\n\n"
            f"** MEMINFO in pid {pid} [{package}] **\n"
            "                   Pss  Private  Private  SwapPss      Rss     Heap     Heap     Heap\n"
            "                 Total    Dirty    Clean    Dirty    Total     Size    Alloc     Free\n"
            "                ------   ------   ------   ------   ------   ------   ------   ------\n"
            "  Native Heap    10240    10200        0        0    12000    16384    12000     4384\n"
            f"    EGL mtrack    {egl_kb}    {egl_kb}        0        0    {egl_kb}\n"
            f"     GL mtrack    {gl_kb}    {gl_kb}        0        0    {gl_kb}\n"
            f"         TOTAL    {10240 + egl_kb + gl_kb}    {10200 + egl_kb + gl_kb}        0        0\n\n"
            " App Summary\n                       Pss(KB)                        Rss(KB)\n"
            "                        ------                         ------\n"
            f"              Graphics:    {egl_kb + gl_kb}                          {egl_kb + gl_kb}\n")


def _meminfo(leak_steps: int) -> str:
    # a short `dumpsys meminfo` with the Android 12+ DMA-BUF lines, consistent with the tree
    dmabuf_kb = (3 * FRAME + 3 * MiB + 6 * FRAME + 2 * PREVIEW + 4 * PREVIEW
                 + LEAK_PER_STEP * leak_steps * PREVIEW + CODEC_BUFFERS * 1536000 + 5 * 2 * MiB) // 1024
    return ("Applications Memory Usage (in Kilobytes):\nUptime: 8123456 Realtime: 8123456\n\n"
            "Total RAM: 7,698,860K (status normal)\n"
            f" DMA-BUF: {dmabuf_kb:,}K ({(3 * FRAME) // 1024:,}K mapped + {dmabuf_kb - (3 * FRAME) // 1024:,}K unmapped)\n"
            f" DMA-BUF Heaps: {dmabuf_kb:,}K\n DMA-BUF Heaps pool: 12,288K\n GPU: {(80 + 2 * leak_steps) * 1024:,}K\n")


class DemoScenario:
    """Writes step 0 into `root`, then a later step before every collection."""

    def __init__(self, root: Path, build: str = "userdebug") -> None:
        self.root = Path(root)
        self.build = build
        self.collections = 0
        self.step = 0
        self._lock = threading.Lock()
        build_step(0, build).write(self.root)

    def advance(self) -> None:
        with self._lock:
            self.step += 1
            scratch = Path(tempfile.mkdtemp(prefix="step-", dir=self.root.parent))
            try:
                build_step(self.step, self.build).write(scratch)
                # swap contents, not directories: proc/ and sys/ are bind-mount sources
                for top in ("proc", "sys", "dumpsys"):
                    src, dst = scratch / top, self.root / top
                    if not src.is_dir():
                        continue
                    dst.mkdir(exist_ok=True)
                    for old in list(dst.iterdir()):
                        if old.is_dir() and not old.is_symlink():
                            shutil.rmtree(old)
                        else:
                            old.unlink()
                    for new in src.iterdir():
                        os.rename(new, dst / new.name)
                if (scratch / "permissions.txt").exists():
                    os.replace(scratch / "permissions.txt", self.root / "permissions.txt")
                    from droidtrack.sim.synth import apply_permissions
                    apply_permissions(self.root)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)

    def on_command(self, command: str) -> None:
        """The double calls this before each shell command: a collection after the first sees
        the next step."""
        if "collect.sh" not in command or "--token" not in command:
            return
        with self._lock:
            n = self.collections
            self.collections += 1
        if n > 0:
            self.advance()


def _start_double(root: Path, config) -> object:
    """The demo phone on the first free port of SERIAL_PORTS (a stable serial), else any port."""
    from droidtrack.double import DeviceDouble
    for port in (*SERIAL_PORTS, 0):
        double = DeviceDouble(root, config, port=port)
        try:
            return double.start()
        except OSError as e:
            double.stop()
            if port == 0 or e.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
    raise AssertionError("unreachable")


_told: set[str] = set()


def _say_runtime(rt) -> None:
    """Once per process, one quiet stderr line: what the demo phone's shell is."""
    text = rt.describe()
    if text in _told:
        return
    _told.add(text)
    print(f"droidtrack: demo phone: {text}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def start_demo_device(adb: str | None = None, build: str = "userdebug") -> Iterator[tuple[int, str]]:
    """Start the demo phone and a private adb server; yields (adb_server_port, serial).
    build "user": the phone as a user build (build_step): adbd as shell (uid 2000), no `adb
    root`, no su, `run-as` working only for DEBUGGABLE_PACKAGE. It needs root on this host (the
    shell's uid and the app's are real uids in the double's namespace)."""
    if build not in BUILDS:
        raise DemoError(f"--demo-build: one of {', '.join(BUILDS)}, not {build!r}")
    if os.name != "posix" or not hasattr(os, "geteuid"):
        raise DemoError("the demo device runs on Linux only")
    from droidtrack.double import AdbServer, AdbServerError, DeviceConfig, SandboxError, wheel_adb
    adb = adb or wheel_adb()
    if adb is None:
        raise DemoError("the demo needs an adb binary: `pip install adbutils` ships one")
    work = Path(tempfile.mkdtemp(prefix="droidtrack-demo-"))
    stack = contextlib.ExitStack()
    try:
        try:
            scenario = DemoScenario(work / "phone", build)
            if build == "user":
                config = DeviceConfig(rooted=False, adb_root=False, su="none", packages=PACKAGES)
            else:
                config = DeviceConfig(rooted=True, adb_root=True)
            double = _start_double(work / "phone", config)
            stack.callback(double.stop)
            if build == "user" and double.sandbox.rootless:
                raise DemoError("the user-build demo phone needs root on this host: without it there is no "
                                "uid 2000 nor the app's uid to read /proc as (`sudo droidtrack ...`)")
            double.on_command = scenario.on_command
            _say_runtime(double.sandbox.rt)
            server = stack.enter_context(AdbServer(adb))
            server.connect(double.serial)
        except (SandboxError, AdbServerError, OSError) as e:
            hint = "" if os.geteuid() == 0 else " (as root, e.g. `sudo droidtrack demo`, the demo phone has more to work with)"
            raise DemoError(f"could not start the demo device: {e}{hint}") from None
        try:
            yield server.port, double.serial
        finally:
            from droidtrack.sources import adb as adb_source
            adb_source.close_sessions(port=server.port)
    finally:
        stack.close()
        shutil.rmtree(work, ignore_errors=True)
