"""Snapshots for the report tests, built from the model (and hostile names the device controls)."""
from __future__ import annotations

from html.parser import HTMLParser

from droidtrack.model import Buffer, DeviceInfo, Holding, MapRef, Process, Snapshot, SourceStatus
from droidtrack.model.problems import Problem

XSS = "<img src=x onerror=alert(1)>"          # 28 characters: fits a 31-byte dma-buf name
MD_LINK = "[x](javascript:alert(1))"
NASTY_NAMES = (XSS, "a|b`c`", MD_LINK, "line1\nline2", "esc\x1b[31mred", "<script>alert(2)</script>")

MiB = 1 << 20


HALS = ("/vendor/bin/hw/android.hardware.graphics.allocator@4.0-service",
        "/vendor/bin/hw/android.hardware.media.c2@1.2-service")


def snapshot(t: float = 1_700_000_000.0, *, extra_camera: int = 0, nasty: bool = True, hals: bool = False) -> Snapshot:
    """`hals`: two more vendor HAL processes whose paths share their first 24 characters with the
    camera provider's (each holds a 5 MiB buffer)."""
    procs = {
        1000: Process(1000, "surfaceflinger", ("/system/bin/surfaceflinger",), uid=1000),
        2000: Process(2000, "id.GoogleCamera", ("com.google.android.GoogleCamera",), uid=10123),
        2001: Process(2001, "oogleCamera:svc", ("com.google.android.GoogleCamera:svc",), uid=10123),
        3000: Process(3000, "provider@2.7-se", ("/vendor/bin/hw/android.hardware.camera.provider@2.7-service",), uid=1047),
        4000: Process(4000, XSS[:15], (XSS,), uid=10200),
    }
    bufs = {}

    def add(key, size, name, exporter, tag, holders, inode):
        bufs[key] = Buffer(key=key, size=size, inode=inode, exporter=exporter, name=name, count=len(holders) + 1,
                           holders=holders, tag=tag, tag_rule="test", sources=("test",))

    add("ino:1", 8 * MiB, "FramebufferSurface", "system", "display",
        {1000: Holding(fds=(12,), maps=(MapRef(0x7000, 0x7000 + 8 * MiB, perms="rw-s"),))}, 1)
    add("ino:2", 12 * MiB, "CAMERA", "qcom,system", "camera",
        {2000: Holding(fds=(40,)), 3000: Holding(fds=(77,))}, 2)
    add("ino:3", 4 * MiB, None, "system", "graphics", {2001: Holding(fds=(9,))}, 3)
    add("ino:4", 3 * MiB, "gpu-private", "kgsl", "gl", {}, 4)
    for i in range(extra_camera):
        add(f"ino:{100 + i}", 2 * MiB, "cam_preview", "system", "camera", {2000: Holding(fds=(100 + i,))}, 100 + i)
    if hals:
        for i, argv0 in enumerate(HALS):
            pid = 3001 + i
            procs[pid] = Process(pid, argv0.rpartition("/")[2][-15:], (argv0,), uid=1000)
            add(f"ino:{70 + i}", 5 * MiB, f"hal-{i}", "system", "graphics", {pid: Holding(fds=(20 + i,))}, 70 + i)
    if nasty:
        for i, n in enumerate(NASTY_NAMES):
            add(f"ino:{50 + i}", (i + 1) * 4096, n, "system" if i % 2 else n, "other", {4000: Holding(fds=(60 + i,))}, 50 + i)
    dev = DeviceInfo(serial="R58M123ABC", model="Pixel 7", manufacturer="Google",
                     fingerprint="google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys",
                     release="14", sdk=34, kernel="5.10.198-android13-4-00050-g12f3388", uid=0)
    sources = {"bufinfo": SourceStatus("ok"), "fdinfo": SourceStatus("ok"),
               "sysfs": SourceStatus("missing", "no /sys/kernel/dmabuf/buffers"),
               "dumpsys_meminfo": SourceStatus("skipped", "not asked for (--dumpsys)")}
    problems = (Problem("fdinfo", f"could not read {XSS}", text=XSS, path="/proc/4000/fdinfo/3"),)
    return Snapshot(time=t, device=dev, buffers=bufs, processes=procs, sources=sources,
                    problems=problems, reported={"bufinfo.total": sum(b.size for b in bufs.values())},
                    origin="root:/tmp/some/dir")


# ---- a bugreport zip assembled from tests/data/bugreport/ -------------------------------------
import os
import zipfile
from pathlib import Path

BR_DATA = Path(__file__).parent / "data" / "bugreport"
BR_MAIN = "bugreport-panther-UQ1A.240205.004-2024-03-14-09-26-53.txt"
DASHES = "-" * 79


def _d(name: str) -> str:
    return (BR_DATA / name).read_text(encoding="utf-8")


def _service(name: str, body: str, took: str, at: str) -> str:
    """One `dumpsys` service's section in dumpstate's text ("HIGH meminfo": the priority run's)."""
    tool = name.split()[-1]
    return (f"{DASHES}\nDUMP OF SERVICE {name}:\n{body}"
            f"--------- {took} was the duration of dumpsys {tool}, ending at: 2024-03-14 {at}\n")


def bugreport_text(*, dmabuf_dump: str | None = "ok", dmabuf_dump_b: bool = True, meminfo: bool = True,
                   gpu: bool = True, getprop: bool = True, surfaceflinger: str | None = None) -> str:
    """The main dumpstate text, sections in dumpstate's order, headers as dumpstate prints them.
    dmabuf_dump: "ok", "failed" (the command failed) or None (section absent); surfaceflinger:
    the text of a `DUMP OF SERVICE SurfaceFlinger:` (None: absent)."""
    out = [_d("header.txt")]
    out.append("------ UPTIME (uptime) ------\n 09:26:53 up 2 days,  3:14,  0 users,  load average: 7.21, 6.94, 6.80\n")
    out.append("------ MEMORY INFO (/proc/meminfo) ------\nMemTotal:        7698860 kB\nMemFree:         1298669 kB\n")
    out.append("------ 0.734s was the duration of 'DUMP BLOCK STAT' ------\n")
    if dmabuf_dump == "ok":
        out.append("------ Dmabuf dump (dmabuf_dump) ------\n" + _d("dmabuf_dump.txt"))
        out.append("------ 0.912s was the duration of 'Dmabuf dump' ------\n")
    elif dmabuf_dump == "failed":
        out.append("------ Dmabuf dump (dmabuf_dump) ------\n*** command 'dmabuf_dump' failed: exit code 1\n")
    if dmabuf_dump_b:
        out.append("------ Dmabuf per-buffer/per-exporter/per-device stats (dmabuf_dump -b) ------\n"
                   + _d("dmabuf_dump_b.txt"))
    out.append("------ PSI cpu (/proc/pressure/cpu) ------\nsome avg10=12.31 avg60=10.02 avg300=9.87 total=112937110\n")
    out.append("------ DUMPSYS HIGH (/system/bin/dumpsys) ------\n")
    if meminfo:
        out.append(_service("HIGH meminfo", _d("meminfo.txt"), "9.876s", "09:27:31"))
    out.append(_service("HIGH connectivity", "NetworkProviders for: \n", "0.051s", "09:27:31"))
    out.append("------ 20.102s was the duration of 'DUMPSYS HIGH' ------\n")
    if getprop:
        out.append("------ SYSTEM PROPERTIES (getprop) ------\n" + _d("getprop.txt"))
    out.append("========================================================\n== Android Framework Services\n"
               "========================================================\n")
    out.append("------ DUMPSYS (/system/bin/dumpsys) ------\n")
    if gpu:
        out.append(_service("gpu", _d("gpu.txt"), "0.004s", "09:27:40"))
    if surfaceflinger is not None:
        out.append(_service("SurfaceFlinger", surfaceflinger, "0.087s", "09:27:40"))
    out.append(_service("window", "WINDOW MANAGER LAST ANR (dumpsys window lastanr)\n  <no ANR has occurred since boot>\n",
                        "0.101s", "09:27:41"))
    out.append("========================================================\n== dumpstate: done (id 7)\n"
               "========================================================\n")
    return "".join(out)


def board_text(*, bufinfo: bool = True) -> str:
    out = []
    if bufinfo:
        out.append("------ dmabuf info (/d/dma_buf/bufinfo) ------\n" + _d("bufinfo.txt"))
    else:
        out.append("------ dmabuf info (/d/dma_buf/bufinfo) ------\n*** /d/dma_buf/bufinfo: No such file or directory\n\n")
    out.append(_d("board.txt"))
    return "".join(out)


def make_bugreport_zip(path, *, bufinfo: bool = True, **kw) -> Path:
    """A zip laid out like `adb bugreport` writes it (Android 14)."""
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("version.txt", "2.0")
        z.writestr("main_entry.txt", BR_MAIN)
        z.writestr(BR_MAIN, bugreport_text(**kw))
        z.writestr("dumpstate_board.txt", board_text(bufinfo=bufinfo))
        z.writestr("dumpstate_log.txt", "dumpstate: begin\n")
        z.writestr("FS/proc/meminfo", "MemTotal:        7698860 kB\n")
        z.writestr("proto/activity.proto", b"\x0a\x00")
    return path


class Elements(HTMLParser):
    """An HTML page's start tags (tag, attributes) and text, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse_html(text: str) -> Elements:
    e = Elements()
    e.feed(text)
    return e
