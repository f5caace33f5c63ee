"""An `adb bugreport` zip (or the plain bugreport-*.txt of old devices) as a snapshot source.

The dumpstate text and its sections are read by sources/dumpstate_text.py, streaming and within
budgets; only the sections named below are kept.

What droidtrack reads (by the command or path in the header, so vendor titles do not matter):

  dmabuf_dump            per process: the buffers (inode, size in kB, name) it holds  -> holders
  dmabuf_dump -b         per buffer: inode, exact size, exporter (sysfs stats)          -> buffers
  …/dma_buf/bufinfo      per buffer: size, exporter, name, refcount, attached devices  -> buffers
  …/dmaprocs, procinfo   vendor per-process buffer lists                                -> holders
  ION debugfs heaps      per-heap totals, per-client sizes, orphaned allocations       -> reported
  DUMP OF SERVICE meminfo  DMA-BUF/ION/GPU totals, full process names ("Total PSS by process")
  DUMP OF SERVICE gpu    GPU memory per process (gpu_mem)                               -> reported
  DUMP OF SERVICE SurfaceFlinger  its gralloc tables: who asked for graphics buffers  -> owners
  SYSTEM PROPERTIES      model, manufacturer, fingerprint, release, SDK, time zone
  the dumpstate header   build fingerprint, kernel version, the time of the report

Neither dmabuf_dump nor dmaprocs says whether a process holds a buffer by fd or by mapping: such
holdings are `Holding(by="unknown")`, counted in RSS/PSS and in neither fd-only nor mapped, and
every snapshot from a bugreport says so in its problems and its buffers' provenance.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field

from droidtrack.ingest.dmabuf_dump import feed_dmabuf_dump
from droidtrack.ingest.dmaprocs import feed_dmaprocs
from droidtrack.ingest.gpu import feed_dumpsys_gpu
from droidtrack.ingest.ion import DEBUGFS as ION_DEBUGFS, feed_ion_debugfs
from droidtrack.ingest.meminfo import feed_meminfo
from droidtrack.ingest.surfaceflinger import feed_surfaceflinger
from droidtrack.ingest.feed_buffers import feed_bufinfo
from droidtrack.parse import bufinfo as p_bufinfo
from droidtrack.model.build import Builder
from droidtrack.model import Snapshot, SourceStatus
from droidtrack.model.problems import Problem
from droidtrack.sources import Collected, SourceError
from droidtrack.sources.dumpstate_text import (MAX_ENTRIES, Budget, DumpSection, read_entry,
                                               zip_entry_count)

_PROP = re.compile(r"^\[(?P<k>[^\]]+)\]: \[(?P<v>.*)\]\s*$", re.M)
_DUMPSTATE_TIME = re.compile(r"^== dumpstate: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$", re.M)
_FINGERPRINT = re.compile(r"^Build fingerprint: '(?P<v>[^']*)'", re.M)
_KERNEL = re.compile(r"^Kernel: Linux version (?P<v>\S+)", re.M)
_SDK = re.compile(r"^Android SDK version: (?P<v>\d+)", re.M)

# the dumpsys services droidtrack reads
SERVICES = frozenset({"meminfo", "gpu", "SurfaceFlinger"})


@dataclass
class Bugreport:
    """The sections droidtrack reads of one bugreport, from every text member that has them."""
    path: str
    main: str = ""                              # name of the main text member
    header: str = ""                            # text before the first section of the main text
    sections: list[DumpSection] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    zip_time: tuple | None = None
    problems: list[Problem] = field(default_factory=list)
    any_section: bool = False                   # a section header was seen (kept or not)

    def find(self, pred) -> list[DumpSection]:
        return [s for s in self.sections if pred(s)]

    def service(self, name: str) -> tuple[DumpSection, str] | None:
        for s in self.sections:
            if name in s.services:
                return s, s.services[name]
        return None


def _wanted(title: str, source: str):
    """Which sections read_bugreport keeps: those build_snapshot reads, and of dumpsys SERVICES."""
    if "dumpsys" in source:
        return SERVICES
    sec = DumpSection(title, source, "", "", 0)
    return True if any(pred(sec) for _, pred in _READ) else None


def _read(f, name: str, br: Bugreport, budget: Budget, main: bool) -> list[DumpSection]:
    et = read_entry(f, name, _wanted, budget, with_header=main)
    if main:
        br.header = "\n".join(et.header.split("\n", 200)[:200])
    br.any_section = br.any_section or et.seen
    return et.sections


_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, RuntimeError, NotImplementedError, EOFError, ValueError)


def read_bugreport(path: str) -> Bugreport:
    """Open a bugreport zip (or a plain text bugreport). Raises SourceError only when the file
    cannot be read at all or holds no dumpstate text. Memory stays bounded whatever it holds."""
    br = Bugreport(path)
    budget = Budget()
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as e:
        raise SourceError(f"cannot read bugreport {path}: {e.strerror or e}") from None
    if is_zip:
        try:
            with open(path, "rb") as fh:
                count = zip_entry_count(fh)
        except OSError as e:
            raise SourceError(f"cannot read bugreport {path}: {e.strerror or e}") from None
        if count is not None and count > MAX_ENTRIES:
            raise SourceError(f"{path}: the zip lists {count} entries (a bug report has a few thousand; "
                              f"droidtrack opens at most {MAX_ENTRIES}): not read")
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                br.members = names
                main = None
                if "main_entry.txt" in names:
                    with z.open("main_entry.txt") as f:
                        main = f.read(4096).decode("utf-8", "backslashreplace").strip()
                    if main not in names:
                        br.problems.append(Problem("bugreport", f"main_entry.txt names {main[:200]!r}, "
                                                   "which is not in the zip"))
                        main = None
                if main is None:
                    cands = [n for n in names if re.match(r"(?:.*/)?bugreport.*\.txt$", n)]
                    cands.sort(key=lambda n: -z.getinfo(n).file_size)
                    main = cands[0] if cands else None
                wanted = ([main] if main else []) + [n for n in names if n.endswith("dumpstate_board.txt")]
                for n in wanted:
                    try:
                        with z.open(n) as f:
                            br.sections.extend(_read(f, n, br, budget, n == main))
                    except _ZIP_ERRORS as e:
                        br.problems.append(Problem("bugreport", f"{n}: not read ({e})"))
                if main:
                    br.main = main
                    br.zip_time = z.getinfo(main).date_time
        except _ZIP_ERRORS as e:
            raise SourceError(f"{path}: not a readable zip ({e})") from None
        if not wanted:
            raise SourceError(f"{path}: no dumpstate text in the zip (no main_entry.txt, no bugreport-*.txt); "
                              "is this an `adb bugreport` zip?")
    else:
        br.main = os.path.basename(path)
        try:
            with open(path, "rb") as f:
                br.sections.extend(_read(f, br.main, br, budget, True))
        except OSError as e:
            raise SourceError(f"cannot read bugreport {path}: {e.strerror or e}") from None
    br.problems.extend(budget.problems)
    if not br.any_section:
        raise SourceError(f"{path}: no dumpstate sections found (lines like '------ TITLE (…) ------'); "
                          "is this a bugreport?")
    return br


# ---- from sections to a snapshot -------------------------------------------------------------

def _is_cmd(sec: DumpSection, *argv: str) -> bool:
    parts = sec.source.split()
    if not parts:
        return False
    return os.path.basename(parts[0]) == argv[0] and parts[1:] == list(argv[1:])


def _ends(sec: DumpSection, *suffixes: str) -> bool:
    return any(sec.path.endswith(s) for s in suffixes)


# the sections build_snapshot reads, by the command or path in their header (vendor titles vary)
_READ = (
    ("getprop", lambda s: _is_cmd(s, "getprop")),
    ("bufinfo", lambda s: _ends(s, "dma_buf/bufinfo")),
    ("dmabuf_dump_b", lambda s: _is_cmd(s, "dmabuf_dump", "-b")),
    ("dmabuf_dump", lambda s: _is_cmd(s, "dmabuf_dump")),
    ("dmaprocs", lambda s: _ends(s, "/dmaprocs", "/procinfo")),
    ("ion", lambda s: s.title.upper().startswith("ION ") or "/ion/" in s.path),
)
_IS = dict(_READ)


def _pick(br: Bugreport, key: str, pred, b: Builder) -> DumpSection | None:
    found = br.find(pred)
    if not found:
        return None
    if len(found) > 1:
        b.problems.append(Problem("bugreport", f"{len(found)} sections look like {key} "
                                  f"({', '.join(f'{s.entry} line {s.line}' for s in found[:4])}); read the first"))
    return found[0]


def _status(b: Builder, key: str, sec: DumpSection | None, what: str) -> bool:
    """Record the source's status; True when the section has content worth parsing."""
    if sec is None:
        b.sources[key] = SourceStatus("missing", f"no {what} section in this bugreport")
        return False
    fail = sec.failure()
    if fail is not None:
        st = "denied" if "ermission denied" in fail or "Skipping" in fail else \
            "missing" if "No such file" in fail or fail == "empty" else "error"
        b.sources[key] = SourceStatus(st, f"{what}: {fail}")
        return False
    return True


def _time_of(br: Bugreport, props: dict[str, str], problems: list[Problem]) -> tuple[float | None, str]:
    m = _DUMPSTATE_TIME.search(br.header)
    local = None
    if m:
        try:
            local = _dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            local = None
    if local is None and br.zip_time:
        try:
            local = _dt.datetime(*br.zip_time)
        except ValueError:
            local = None
    if local is None:
        return None, "unknown"
    tzname = props.get("persist.sys.timezone", "")
    tz = None
    if tzname:
        try:
            from zoneinfo import ZoneInfo
            tz = ZoneInfo(tzname)
        except Exception:  # noqa: BLE001 - unknown zone names, missing tzdata: fall back to UTC
            tz = None
    if tz is None:
        problems.append(Problem("bugreport", "the device's time zone is unknown: the report time "
                                f"{local:%Y-%m-%d %H:%M:%S} (device local time) is taken as UTC"))
        return local.replace(tzinfo=_dt.timezone.utc).timestamp(), f"{local} (zone unknown, taken as UTC)"
    return local.replace(tzinfo=tz).timestamp(), f"{local} {tzname}"


def build_snapshot(br: Bugreport, rules=None) -> Snapshot:
    """The sections this bug report has, each through the one feeder of its format."""
    b = Builder(rules)
    b.problems.extend(br.problems)

    # -- identity
    props: dict[str, str] = {}
    prop_sec = _pick(br, "getprop", _IS["getprop"], b)
    if _status(b, "props", prop_sec, "SYSTEM PROPERTIES (getprop)"):
        props = {m.group("k"): m.group("v") for m in _PROP.finditer(prop_sec.text)}
        b.sources["props"] = SourceStatus("ok", f"{len(props)} properties")
    m = _FINGERPRINT.search(br.header)
    k = _KERNEL.search(br.header)
    sdk_m = _SDK.search(br.header)
    sdk = props.get("ro.build.version.sdk") or (sdk_m.group("v") if sdk_m else "")
    b.device.update({
        "model": props.get("ro.product.model"),
        "manufacturer": props.get("ro.product.manufacturer"),
        "fingerprint": props.get("ro.build.fingerprint") or (m.group("v") if m else None),
        "release": props.get("ro.build.version.release"),
        "kernel": k.group("v") if k else None,
        "sdk": int(sdk) if sdk.isdigit() else None,
    })
    serial = props.get("ro.serialno") or props.get("ro.boot.serialno")
    t, _ = _time_of(br, props, b.problems)

    # -- buffers: bufinfo (debugfs), dmabuf_dump -b (sysfs stats); holders: dmabuf_dump, dmaprocs
    bi = _pick(br, "dma_buf/bufinfo", _IS["bufinfo"], b)
    if _status(b, "bufinfo", bi, "debugfs dma_buf/bufinfo"):
        feed_bufinfo(b, p_bufinfo.read(bi.text), "ok", f", {bi.entry} line {bi.line}")
    have_holders = False
    for key, what in (("dmabuf_dump_b", "dmabuf_dump -b (sysfs per-buffer stats)"),
                      ("dmabuf_dump", "dmabuf_dump (per-process buffers)")):
        sec = _pick(br, key.replace("_b", " -b"), _IS[key], b)
        if _status(b, key, sec, what):
            have_holders |= feed_dmabuf_dump(b, sec.text, where=f"{sec.entry} line {sec.line}") >= 0 \
                and key == "dmabuf_dump"
    dp = _pick(br, "dmaprocs", _IS["dmaprocs"], b)
    if _status(b, "dmaprocs", dp, "vendor dmaprocs"):
        have_holders |= feed_dmaprocs(b, dp.text, where=f"{dp.entry} line {dp.line}") > 0

    # -- framework numbers: dumpsys meminfo, dumpsys gpu; owner evidence: dumpsys SurfaceFlinger
    for name, key, feed in (("meminfo", "dumpsys_meminfo", feed_meminfo), ("gpu", "dumpsys_gpu", feed_dumpsys_gpu),
                            ("SurfaceFlinger", "dumpsys_surfaceflinger", feed_surfaceflinger)):
        found = br.service(name)
        if found is None:
            b.sources[key] = SourceStatus("missing", f"no DUMP OF SERVICE {name} in this bugreport")
        else:
            feed(b, found[1], where=f"{found[0].entry} line {found[0].line}")

    # ION debugfs: one section per heap or client file, fed as the collector's files would be
    ion_lines = []
    for sec in br.find(_IS["ion"]):
        kind, _, name = sec.path.partition("/ion/")[2].partition("/")
        if kind in ("heaps", "clients") and name and sec.failure() is None:
            path = f"{ION_DEBUGFS}{kind}/{name}"
            ion_lines.extend((i, path, line) for i, line in enumerate(sec.text.split("\n"), 1))
    if ion_lines:
        feed_ion_debugfs(b, ion_lines)
    elif br.find(_IS["ion"]):
        ion = br.find(_IS["ion"])[0]
        b.sources["ion_debugfs"] = SourceStatus("skipped", f"ION section ({ion.entry} line {ion.line}) is not a "
                                                "debugfs heaps/ or clients/ file")
    if not have_holders:
        b.identity_complete = False    # nobody said who holds what: unheld is not kernel-only
        b.problems.append(Problem("bugreport", "no per-process dma-buf data (dmabuf_dump or dmaprocs) in this "
                                  "bugreport: buffers are listed without holders"))
    elif any(h.by == "unknown" for hs in b.explicit_holdings.values() for h in hs.values()):
        b.problems.append(Problem("bugreport", "dmabuf_dump does not say whether a process holds a buffer by fd or by "
                                  "mapping: per-process RSS and PSS are exact, fd-only and mapped are not known"))
    return b.finish(time=t if t is not None else 0.0, origin=f"bugreport:{os.path.basename(br.path)}",
                    serial=serial)


class BugreportSource:
    """`--bugreport FILE`: one snapshot, built from the sections the bugreport has."""

    def __init__(self, path: str, rules=None) -> None:
        self.path = path
        self.rules = rules
        self.label = f"bugreport {path}"
        self._bugreport: Bugreport | None = None
        self._collected: Collected | None = None

    @property
    def bugreport(self) -> Bugreport:
        if self._bugreport is None:
            self._bugreport = read_bugreport(self.path)
        return self._bugreport

    def collect(self) -> Collected:
        if self._collected is None:
            snap = build_snapshot(self.bugreport, self.rules)
            self._collected = Collected(snap, None)
        return self._collected

    def excerpt(self) -> bytes:
        """The sections droidtrack read, as dumpstate printed them (for a report's raw/ folder)."""
        br = self.bugreport
        keep = []
        for s in br.sections:
            if any(pred(s) for key, pred in _READ if key != "ion"):
                keep.append(f"------ {s.title} ({s.source}) ------\n{s.text}")
            for name in ("meminfo", "gpu", "SurfaceFlinger"):
                if name in s.services:
                    keep.append(f"DUMP OF SERVICE {name}: (from {s.title})\n{s.services[name]}")
        return (br.header + "\n" + "".join(k if k.endswith("\n") else k + "\n" for k in keep)).encode("utf-8", "replace")

    def close(self) -> None:
        pass
