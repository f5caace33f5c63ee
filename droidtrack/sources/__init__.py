"""Where snapshots come from. Every source yields the same thing: a Snapshot (and, where there is
one, the raw collector stream it was built from), so presenters never care which it was.

    add_source_arguments(parser)   the options every command that reads a device takes
    source_from_args(args)         -> SnapshotSource
    src.collect() -> Collected     one snapshot (a replay source steps through its recording)
    src.close()

Implementations: localroot (a directory laid out like a device root), capture (a saved raw stream),
adb (a live device over a real adb server), demo (the built-in device double), replay (a
recording), bugreport (an `adb bugreport` zip), reportzip (a zip `droidtrack report` wrote: given
to --report, or recognised when given to --replay/--capture), paste (text of one source, for `analyze`).
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Protocol

from droidtrack.model import Snapshot


class SourceError(Exception):
    """A source could not produce a snapshot at all. The message is for the user; exit code 2."""
    exit_code = 2


@dataclass
class Collected:
    """One snapshot and how far it can be trusted.

    truncated: the collector stream was cut (disconnect, stall, a killed collector, a cut capture);
               every byte that arrived is in the snapshot, and its `sources["stream"]` and first
               problem say what was not received (sources/completeness.py).
    complete:  complete enough to stand for the device: every section that lists buffers and their
               holders arrived whole. False: present it marked, but exit 2, and a recording stores
               the sample as failed (not as a device holding fewer buffers). `incomplete` says why.
    """
    snapshot: Snapshot
    raw: bytes | None = None       # the collector stream, when there is one (for --save-capture)
    truncated: bool = False
    complete: bool = True
    incomplete: str | None = None  # why it does not stand for the device (when complete is False)


def step_through(src) -> Collected:
    """`collect()` of a source with random access (`at(i)`, `len()`, `position`): the sample at
    `position`, then the next; the last one is held and `exhausted` turns true (replay, report zip)."""
    n = len(src)
    j = min(src.position, n - 1)
    c = src.at(j)
    if src.position >= n - 1:
        src.exhausted = True
    src.position = min(src.position + 1, n)
    return c


def collected_from_stream(fr, snapshot: Snapshot, raw: bytes | None, error: str | None = None) -> Collected:
    """A Collected for a snapshot built from collector frames, judged complete or not."""
    from droidtrack.sources.completeness import judge
    snap, truncated, complete, why = judge(fr, snapshot, error)
    return Collected(snap, raw, truncated=truncated, complete=complete, incomplete=why)


class SnapshotSource(Protocol):
    label: str

    def collect(self) -> Collected: ...

    def close(self) -> None: ...


FILE_SOURCES = ("root", "capture", "replay", "bugreport", "report")


def add_file_source_arguments(g) -> None:
    """--root/--capture/--replay/--bugreport/--report: the sources that are not a device on adb.
    Every command that takes a device takes these too (and says plainly when one means nothing to it)."""
    g.add_argument("--root", metavar="DIR", help="a directory laid out like a device root (proc/, sys/, ...), "
                   "e.g. a tree pulled from a phone or one of droidtrack's fixtures; the collector runs on it locally")
    g.add_argument("--capture", metavar="FILE", help="a raw collector stream saved with --save-capture "
                   "(a droidtrack report zip is recognised too)")
    g.add_argument("--replay", metavar="FILE", help="a recording made with `droidtrack record` "
                   "(a droidtrack report zip is recognised too)")
    g.add_argument("--bugreport", metavar="ZIP", help="an `adb bugreport` zip")
    g.add_argument("--report", metavar="ZIP", dest="report_zip",
                   help="a zip written by `droidtrack report`: its raw streams or recording, else its snapshot")


def file_source(args: argparse.Namespace) -> tuple[str, str] | None:
    """(option, value) of the file source given, if any: ("--root", "fixtures/a13-5.15")."""
    for k in FILE_SOURCES:
        v = getattr(args, "report_zip" if k == "report" else k, None)
        if v:
            return f"--{k}", str(v)
    return None


def add_source_arguments(parser: argparse.ArgumentParser, *, live: bool = True) -> None:
    """--root/--capture/--demo/--replay/--bugreport/--report and the adb device options."""
    g = parser.add_argument_group("where the snapshot comes from (default: the connected device)")
    add_file_source_arguments(g)
    from droidtrack.model.tags import add_rules_arguments
    add_rules_arguments(g)
    g.add_argument("--dumpsys", action="store_true",
                   help="also run `dumpsys meminfo`, `dumpsys gpu --gpumem` and `dumpsys SurfaceFlinger` "
                   "(whose graphics buffers are whose) on the device (slow: seconds)")
    g.add_argument("--package", action="append", default=[], metavar="PKG", dest="package",
                   help="an app to read exactly without root (repeatable): on a user build its processes' fds, "
                        "fdinfo and maps are read as the app by `run-as PKG` (a debuggable app only), in the same "
                        "adb shell; the view and budgets focus on it")
    g.add_argument("--fd-inodes", choices=("auto", "always", "never"), default="auto",
                   help="stat every fd for its inode (one more process on the device): 'auto' (default) "
                   "only where fdinfo prints no ino: (kernels 5.3-5.13), so that fds join their buffers "
                   "exactly; 'always' also elsewhere; 'never' joins such fds only where size, exporter and "
                   "name are unique")
    if live:
        try:
            from droidtrack.sources import adb
        except ImportError:  # the adb source is optional at import time
            adb = None
        if adb is not None and hasattr(adb, "add_device_arguments"):
            adb.add_device_arguments(parser)


INPUT_OPTIONS = ("capture", "replay", "bugreport", "report_zip", "rules", "owner_rules")


def source_inputs(args: argparse.Namespace) -> list[str]:
    """The files a command reads through the source options (for present.outfile: an output
    must never be one of them)."""
    return [str(v) for v in (getattr(args, k, None) for k in INPUT_OPTIONS) if v]


def source_from_args(args: argparse.Namespace) -> SnapshotSource:
    from droidtrack.model.tags import rules_from_args
    rules = rules_from_args(args)
    dumpsys = bool(getattr(args, "dumpsys", False))
    fd_inodes = getattr(args, "fd_inodes", None) or "auto"
    packages = check_packages(getattr(args, "package", None) or ())
    zip_path = getattr(args, "report_zip", None)
    if not zip_path:
        from droidtrack.sources.reportzip import is_report_zip
        zip_path = next((v for v in (getattr(args, "replay", None), getattr(args, "capture", None))
                         if v and is_report_zip(v)), None)
    if zip_path:
        from droidtrack.sources.reportzip import ReportZipSource
        return ReportZipSource(zip_path, rules=rules)
    if getattr(args, "root", None):
        from droidtrack.sources.localroot import LocalRootSource
        return LocalRootSource(args.root, rules=rules, dumpsys=dumpsys, fd_inodes=fd_inodes, packages=packages)
    if getattr(args, "capture", None):
        from droidtrack.sources.capture import CaptureSource
        return CaptureSource(args.capture, rules=rules)
    if getattr(args, "replay", None):
        from droidtrack.sources.replay import ReplaySource
        return ReplaySource(args.replay, rules=rules)
    if getattr(args, "bugreport", None):
        from droidtrack.sources.bugreport import BugreportSource
        return BugreportSource(args.bugreport, rules=rules)
    from droidtrack.sources.live import LiveSource
    return LiveSource(args, rules=rules, dumpsys=dumpsys, fd_inodes=fd_inodes, packages=packages,
                      focus=bool(getattr(args, "focus_packages", False)))


_PACKAGE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")


def check_packages(names) -> tuple[str, ...]:
    """--package values: Android package names (letters, digits, _ and dots), each once."""
    out: list[str] = []
    for n in names:
        if not _PACKAGE_NAME.match(n) or len(n) > 255:
            raise SourceError(f"--package {n!r}: not an Android package name (like com.example.app)")
        if n not in out:
            out.append(n)
    return tuple(out)
