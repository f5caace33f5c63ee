"""An `adb bugreport` zip (or the plain bugreport-*.txt of old devices) as a snapshot source.

dumpstate writes one big text file (named by `main_entry.txt` in the zip; the board HAL's part goes
to `dumpstate_board.txt`) made of sections, each opened by a header line:

    ------ TITLE (/path/of/file[: mtime]) ------       DumpFile
    ------ TITLE (command args…) ------                RunCommand
    ------ DUMPSYS HIGH (/system/bin/dumpsys) ------   then, per service:
    -------------------------------------------------------------------------------
    DUMP OF SERVICE [PRIORITY ]name:
    …
    --------- 0.512s was the duration of dumpsys name, ending at: 2024-03-14 09:27:31

and closed by the next header, a "------ 1.234s was the duration of 'TITLE' ------" line or a
"==== " banner. A failed read prints "*** /path: No such file or directory" (or "*** command
'…' failed …", "Skipping '…' on user build.") as the section's content.

What droidtrack reads (by the command or path in the header, so vendor titles do not matter):

  dmabuf_dump            per process: the buffers (inode, size in kB, name) it holds  -> holders
  dmabuf_dump -b         per buffer: inode, exact size, exporter (sysfs stats)          -> buffers
  …/dma_buf/bufinfo      per buffer: size, exporter, name, refcount, attached devices  -> buffers
  …/dmaprocs, procinfo   vendor per-process buffer lists                                -> holders
  ION debugfs heaps      per-heap totals (when droidtrack.parse.ion exists)            -> reported
  DUMP OF SERVICE meminfo  DMA-BUF/ION/GPU totals, full process names ("Total PSS by process")
  DUMP OF SERVICE gpu    GPU memory per process (gpu_mem)                               -> reported
  SYSTEM PROPERTIES      model, manufacturer, fingerprint, release, SDK, time zone
  the dumpstate header   build fingerprint, kernel version, the time of the report

Neither dmabuf_dump nor dmaprocs says whether a process holds a buffer by fd or by mapping: such
holdings are `Holding(by="unknown")`, counted in RSS/PSS and in neither fd-only nor mapped, and
every snapshot from a bugreport says so in its problems and its buffers' provenance.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
import zipfile
from dataclasses import dataclass, field

from droidtrack.model.build import Builder
from droidtrack.model import Holding, Snapshot, SourceStatus
from droidtrack.model.problems import Problem
from droidtrack.sources import Collected, SourceError

_HEADER = re.compile(r"^------ (?P<title>.+?) \((?P<src>.*)\) ------\r?$", re.M)
_PLAIN_HEADER = re.compile(r"^------ (?P<title>[^()]+?) ------\r?$", re.M)
_DURATION = re.compile(r"^------ [\d.]+s was the duration of '.*' ------\r?$", re.M)
_BANNER = re.compile(r"^={20,}\r?$", re.M)
_SERVICE = re.compile(r"^DUMP OF SERVICE (?:(?:CRITICAL|HIGH|NORMAL) )?(?P<name>[^\s:]+):\r?$", re.M)
_SERVICE_END = re.compile(r"^--------- [\d.]+s was the duration of dumpsys (?P<name>\S+), ending at: .*$", re.M)
_DASHES = re.compile(r"^-{70,}\r?$", re.M)
_MTIME = re.compile(r": \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
_FAIL = re.compile(r"^\*\*\* (?:(?P<path>/\S*): (?P<err>.+)|command '(?P<cmd>.*)' (?P<how>failed|timed out).*)$")
_SKIP = re.compile(r"^Skipping '.*' on user build\.?$")
_PROP = re.compile(r"^\[(?P<k>[^\]]+)\]: \[(?P<v>.*)\]\s*$", re.M)
_DUMPSTATE_TIME = re.compile(r"^== dumpstate: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s*$", re.M)
_FINGERPRINT = re.compile(r"^Build fingerprint: '(?P<v>[^']*)'", re.M)
_KERNEL = re.compile(r"^Kernel: Linux version (?P<v>\S+)", re.M)
_SDK = re.compile(r"^Android SDK version: (?P<v>\d+)", re.M)
_APP_NAME = re.compile(r"^[A-Za-z][\w]*(?:\.[A-Za-z_][\w]*)+(?::[\w.]+)?$")

# texts bigger than this are not read (a bugreport's main text is 10-100 MB; this is far above)
MAX_TEXT = 1 << 30


@dataclass
class DumpSection:
    title: str
    source: str                 # the path or the command line from the header ("" if none)
    text: str
    entry: str                  # zip member it came from
    line: int                   # 1-based line of the header in that member
    services: dict[str, str] = field(default_factory=dict)   # dumpsys sections: service -> output

    @property
    def path(self) -> str:
        return _MTIME.sub("", self.source)

    def failure(self) -> str | None:
        """The dumpstate error line if the section holds nothing but an error."""
        lines = [l for l in self.text.splitlines() if l.strip()]
        if not lines:
            return "empty"
        if len(lines) <= 3:
            for l in lines:
                if _FAIL.match(l) or _SKIP.match(l):
                    return l
        return None


def split_sections(text: str, entry: str = "") -> list[DumpSection]:
    """Every titled section of a dumpstate text, in order. Never raises."""
    marks: list[tuple[int, int, str, str]] = []   # (start, content start, title, source)
    for m in _HEADER.finditer(text):
        if _DURATION.match(m.group(0)):
            continue
        marks.append((m.start(), m.end() + 1, m.group("title"), m.group("src")))
    for m in _PLAIN_HEADER.finditer(text):
        if _DURATION.match(m.group(0)):
            continue
        marks.append((m.start(), m.end() + 1, m.group("title"), ""))
    ends = sorted({m.start() for m in _DURATION.finditer(text)} | {m.start() for m in _BANNER.finditer(text)})
    marks.sort()
    out: list[DumpSection] = []
    starts = [s for s, _, _, _ in marks]
    import bisect
    for i, (start, cstart, title, src) in enumerate(marks):
        nxt = starts[i + 1] if i + 1 < len(starts) else len(text)
        j = bisect.bisect_left(ends, cstart)
        if j < len(ends) and ends[j] < nxt:
            nxt = ends[j]
        body = text[cstart:nxt] if cstart <= nxt else ""
        sec = DumpSection(title, src, body, entry, text.count("\n", 0, start) + 1)
        if "dumpsys" in src:
            sec.services = split_services(body)
        out.append(sec)
    return out


def split_services(text: str) -> dict[str, str]:
    """`DUMP OF SERVICE name:` blocks of a dumpsys section -> {name: output}."""
    out: dict[str, str] = {}
    heads = list(_SERVICE.finditer(text))
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[m.end() + 1:end]
        e = _SERVICE_END.search(body)
        if e:
            body = body[:e.start()]
        else:
            d = list(_DASHES.finditer(body))
            if d and d[-1].end() >= len(body.rstrip("\n")) - 1:
                body = body[:d[-1].start()]
        out.setdefault(m.group("name"), body)
    return out


@dataclass
class Bugreport:
    """The sections of one bugreport, from every text member that has them."""
    path: str
    main: str = ""                              # name of the main text member
    header: str = ""                            # text before the first section of the main text
    sections: list[DumpSection] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    zip_time: tuple | None = None
    problems: list[Problem] = field(default_factory=list)

    def find(self, pred) -> list[DumpSection]:
        return [s for s in self.sections if pred(s)]

    def service(self, name: str) -> tuple[DumpSection, str] | None:
        for s in self.sections:
            if name in s.services:
                return s, s.services[name]
        return None


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "backslashreplace")


def read_bugreport(path: str) -> Bugreport:
    """Open a bugreport zip (or a plain text bugreport). Raises SourceError only when the file
    cannot be read at all or holds no dumpstate text."""
    br = Bugreport(path)
    try:
        is_zip = zipfile.is_zipfile(path)
    except OSError as e:
        raise SourceError(f"cannot read bugreport {path}: {e.strerror or e}") from None
    texts: list[tuple[str, str]] = []
    if is_zip:
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                br.members = names
                main = None
                if "main_entry.txt" in names:
                    main = _decode(z.read("main_entry.txt")).strip()
                    if main not in names:
                        br.problems.append(Problem("bugreport", f"main_entry.txt names {main!r}, which is not in the zip"))
                        main = None
                if main is None:
                    cands = [n for n in names if re.match(r"(?:.*/)?bugreport.*\.txt$", n)]
                    cands.sort(key=lambda n: -z.getinfo(n).file_size)
                    main = cands[0] if cands else None
                wanted = ([main] if main else []) + [n for n in names if n.endswith("dumpstate_board.txt")]
                for n in wanted:
                    info = z.getinfo(n)
                    if info.file_size > MAX_TEXT:
                        br.problems.append(Problem("bugreport", f"{n} is {info.file_size} bytes: too big, not read"))
                        continue
                    texts.append((n, _decode(z.read(n))))
                if main:
                    br.main = main
                    br.zip_time = z.getinfo(main).date_time
        except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError, EOFError, ValueError) as e:
            raise SourceError(f"{path}: not a readable zip ({e})") from None
        if not texts:
            raise SourceError(f"{path}: no dumpstate text in the zip (no main_entry.txt, no bugreport-*.txt); "
                              "is this an `adb bugreport` zip?")
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_TEXT + 1)
        except OSError as e:
            raise SourceError(f"cannot read bugreport {path}: {e.strerror or e}") from None
        if len(data) > MAX_TEXT:
            raise SourceError(f"{path}: larger than {MAX_TEXT} bytes")
        br.main = os.path.basename(path)
        texts.append((br.main, _decode(data)))
    for name, text in texts:
        secs = split_sections(text, name)
        if name == br.main:
            first = secs[0].line if secs else None
            br.header = "\n".join(text.split("\n", 200)[: (first - 1) if first else 200])
        br.sections.extend(secs)
    if not br.sections:
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
    from droidtrack.parse import bufinfo as p_bufinfo
    from droidtrack.parse import dmabuf_dump as p_dd
    from droidtrack.model.build import _COUNT_RANK, _EXP_RANK, _NAME_RANK, _SIZE_RANK

    b = Builder(rules)
    b.problems.extend(br.problems)
    holders: dict[str, dict[int, str]] = {}     # buffer key -> pid -> source
    comm: dict[int, str] = {}

    # -- identity
    props: dict[str, str] = {}
    prop_sec = _pick(br, "getprop", lambda s: _is_cmd(s, "getprop"), b)
    if _status(b, "props", prop_sec, "SYSTEM PROPERTIES (getprop)"):
        props = {m.group("k"): m.group("v") for m in _PROP.finditer(prop_sec.text)}
        b.sources["props"] = SourceStatus("ok", f"{len(props)} properties")
    m = _FINGERPRINT.search(br.header)
    k = _KERNEL.search(br.header)
    sdk = props.get("ro.build.version.sdk") or (_SDK.search(br.header).group("v") if _SDK.search(br.header) else "")
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

    # -- buffers: bufinfo (debugfs), then dmabuf_dump -b (sysfs stats)
    bi = _pick(br, "dma_buf/bufinfo", lambda s: _ends(s, "dma_buf/bufinfo"), b)
    if _status(b, "bufinfo", bi, "debugfs dma_buf/bufinfo"):
        res = p_bufinfo.parse(bi.text)
        b.problems.extend(res.problems)
        for r in res.records:
            if r.inode is not None:
                d = b.buffer_by_inode(r.inode, r.size, "bufinfo")
            else:
                d = b.anonymous_buffer("bufinfo")
                b.identity_complete = False
            d.offer("size", r.size, "bufinfo", _SIZE_RANK)
            d.offer("exporter", r.exporter, "bufinfo", _EXP_RANK)
            d.offer("name", r.name, "bufinfo", _NAME_RANK)
            d.offer("count", r.count, "bufinfo", _COUNT_RANK)
            if r.attached:
                d.attached = tuple(r.attached)
        if res.total_bytes is not None:
            b.reported["bufinfo.total"] = res.total_bytes
        b.sources["bufinfo"] = SourceStatus("ok", f"{len(res.records)} buffers ({res.variant} format), "
                                            f"{bi.entry} line {bi.line}")

    db = _pick(br, "dmabuf_dump -b", lambda s: _is_cmd(s, "dmabuf_dump", "-b"), b)
    if _status(b, "dmabuf_dump_b", db, "dmabuf_dump -b (sysfs per-buffer stats)"):
        res = p_dd.parse(db.text)
        b.problems.extend(res.problems)
        n = 0
        for r in res.records:
            if isinstance(r, p_dd.DumpSysfsBuffer):
                d = b.buffer_by_inode(r.inode, r.size, "sysfs")
                d.offer("size", r.size, "sysfs", _SIZE_RANK)
                d.offer("exporter", r.exporter, "sysfs", _EXP_RANK)
                n += 1
            elif isinstance(r, p_dd.DumpSysfsTotal):
                b.reported["sysfs.total"] = r.size
        if n or "sysfs.total" in b.reported:
            b.sources["dmabuf_dump_b"] = SourceStatus("ok", f"{n} buffers from sysfs stats, {db.entry} line {db.line}")
        else:
            b.sources["dmabuf_dump_b"] = SourceStatus("error", "dmabuf_dump -b printed no buffer: "
                                                      + (db.text.strip().splitlines() or ["(empty)"])[0][:100])

    # -- holders: dmabuf_dump (per process), vendor dmaprocs
    dd = _pick(br, "dmabuf_dump", lambda s: _is_cmd(s, "dmabuf_dump"), b)
    have_holders = False
    if _status(b, "dmabuf_dump", dd, "dmabuf_dump (per-process buffers)"):
        res = p_dd.parse(dd.text)
        b.problems.extend(res.problems)
        rows = 0
        for r in res.records:
            if isinstance(r, p_dd.DumpBuffer):
                d = b.buffer_by_inode(r.inode, None, "dmabuf_dump")
                d.offer("size", r.rss, "dmabuf_dump", _SIZE_RANK)
                if d.provenance.get("size") == "dmabuf_dump":
                    d.provenance["size"] = "dmabuf_dump (whole kB: up to 1023 bytes short)"
                d.offer("name", r.name, "dmabuf_dump", {"dmabuf_dump": 0})
                d.offer("exporter", r.exporter, "dmabuf_dump", _EXP_RANK)
                holders.setdefault(d.key, {})[r.pid] = "dmabuf_dump"
                comm.setdefault(r.pid, r.comm)
                rows += 1
            elif isinstance(r, p_dd.DumpProcessTotal):
                comm.setdefault(r.pid, r.comm)
                b.process(r.pid).reported["dmabuf_dump_rss"] = r.rss
                if r.pss is not None:
                    b.process(r.pid).reported["dmabuf_dump_pss"] = r.pss
            elif isinstance(r, p_dd.DumpTotals):
                for attr, key in (("dmabuf_total", "dmabuf_dump.total"), ("kernel_rss", "dmabuf_dump.kernel_rss"),
                                  ("userspace_rss", "dmabuf_dump.userspace_rss"),
                                  ("userspace_pss", "dmabuf_dump.userspace_pss")):
                    v = getattr(r, attr, None)
                    if v is not None:
                        b.reported[key] = v
        if rows or res.not_found:
            have_holders = True
            b.sources["dmabuf_dump"] = SourceStatus(
                "ok", (f"{rows} buffer references of {len(comm)} processes" if rows else
                       "no process holds a dma-buf") + f", {dd.entry} line {dd.line}")
        else:
            b.sources["dmabuf_dump"] = SourceStatus("error", "dmabuf_dump printed no process table: "
                                                    + (dd.text.strip().splitlines() or ["(empty)"])[0][:100])

    dp = _pick(br, "dmaprocs", lambda s: _ends(s, "/dmaprocs", "/procinfo"), b)
    if _status(b, "dmaprocs", dp, "vendor dmaprocs"):
        try:
            from droidtrack.parse import dmaprocs as p_dp
        except ImportError:
            p_dp = None
        if p_dp is None:
            b.sources["dmaprocs"] = SourceStatus("skipped", "this droidtrack has no dmaprocs parser")
        else:
            res = p_dp.parse(dp.text)
            b.problems.extend(res.problems)
            rows = 0
            for r in res.records:
                if isinstance(r, p_dp.DmaprocsBuffer):
                    d = b.buffer_by_inode(r.inode, None, "dmaprocs")
                    d.offer("size", r.size, "dmaprocs", _SIZE_RANK)
                    d.offer("exporter", r.exporter, "dmaprocs", _EXP_RANK)
                    d.offer("name", r.name, "dmaprocs", _NAME_RANK)
                    holders.setdefault(d.key, {}).setdefault(r.pid, "dmaprocs")
                    rows += 1
                elif isinstance(r, p_dp.DmaprocsProcess):
                    comm.setdefault(r.pid, r.comm)
            have_holders = have_holders or rows > 0
            b.sources["dmaprocs"] = SourceStatus("ok", f"{rows} buffer references, {dp.entry} line {dp.line}")

    # -- framework numbers: dumpsys meminfo, dumpsys gpu
    full_names: dict[int, str] = {}
    mi = br.service("meminfo")
    if mi is None:
        b.sources["dumpsys_meminfo"] = SourceStatus("missing", "no DUMP OF SERVICE meminfo in this bugreport")
    else:
        from droidtrack.parse import meminfo as p_mi
        res = p_mi.parse(mi[1])
        b.problems.extend(res.problems)
        keys = {"dmabuf": "dumpsys.dmabuf", "dmabuf_heaps": "dumpsys.dmabuf_heaps", "ion": "dumpsys.ion",
                "gpu": "dumpsys.gpu", "dmabuf_heaps_pool": "dumpsys.dmabuf_heaps_pool"}
        for r in res.records:
            if isinstance(r, p_mi.SystemLine) and r.key in keys:
                b.reported[keys[r.key]] = r.total
                if r.key == "dmabuf":
                    for part in ("mapped", "unmapped"):
                        if part in r.parts:
                            b.reported[f"dumpsys.dmabuf_{part}"] = r.parts[part]
            elif isinstance(r, p_mi.ProcessMem) and r.kind == "pss":
                full_names.setdefault(r.pid, r.name)
        b.sources["dumpsys_meminfo"] = SourceStatus("ok", f"{mi[0].entry} line {mi[0].line}")
    gp = br.service("gpu")
    if gp is None:
        b.sources["dumpsys_gpu"] = SourceStatus("missing", "no DUMP OF SERVICE gpu in this bugreport")
    else:
        from droidtrack.parse import gpu as p_gpu
        res = p_gpu.parse_dumpsys_gpu(gp[1])
        b.problems.extend(res.problems)
        n = 0
        for r in res.records:
            if isinstance(r, p_gpu.GpuProcMemory) and r.pid is not None:
                b.process(r.pid).reported[f"gpu_mem_{r.kind}"] = r.bytes
                n += 1
            elif isinstance(r, p_gpu.GpuTotal) and r.kind == "global":
                b.reported["gpu.total"] = r.bytes
        b.sources["dumpsys_gpu"] = SourceStatus("ok" if n else "partial",
                                                f"{n} per-process GPU numbers, {gp[0].entry} line {gp[0].line}")

    ion = _pick(br, "ION heaps", lambda s: s.title.upper().startswith("ION ") or "/ion/" in s.path, b)
    if ion is not None and _status(b, "ion", ion, "ION debugfs heaps"):
        b.sources["ion"] = SourceStatus("skipped", f"ION section present ({ion.entry} line {ion.line}); "
                                        "droidtrack does not read ION debugfs from bugreports yet")

    # -- processes
    for pid in set(comm) | set(full_names):
        p = b.process(pid)
        p.name = comm.get(pid) or p.name
        full = full_names.get(pid)
        if full and _APP_NAME.match(full):
            p.cmdline = (full,)
        elif full and not p.name:
            p.name = full
    if not have_holders:
        b.identity_complete = False    # nobody said who holds what: unheld is not kernel-only
        b.problems.append(Problem("bugreport", "no per-process dma-buf data (dmabuf_dump or dmaprocs) in this "
                                  "bugreport: buffers are listed without holders"))

    origin = f"bugreport:{os.path.basename(br.path)}"
    snap = b.finish(time=t if t is not None else 0.0, origin=origin, serial=serial)
    snap = _attach_holders(snap, holders, b.rules)
    notes = [Problem("bugreport", "dmabuf_dump does not say whether a process holds a buffer by fd or by "
                     "mapping: per-process RSS and PSS are exact, fd-only and mapped are not known")] if holders else []
    return dataclasses.replace(snap, problems=tuple(snap.problems) + tuple(notes))


def _attach_holders(snap: Snapshot, holders: dict[str, dict[int, str]], rules) -> Snapshot:
    if not holders:
        return snap
    bufs = dict(snap.buffers)
    procs = dict(snap.processes)
    from droidtrack.model import Process
    for key, by_pid in holders.items():
        buf = bufs.get(key)
        if buf is None:
            continue
        hs = dict(buf.holders)
        for pid, src in by_pid.items():
            hs.setdefault(pid, Holding(by="unknown"))
            if pid not in procs:
                procs[pid] = Process(pid=pid)
        names, pkgs = [], []
        for pid in hs:
            pr = procs.get(pid)
            if pr is None:
                continue
            if pr.name:
                names.append(pr.name)
            if pr.cmdline:
                names.append(pr.cmdline[0])
            if pr.package:
                pkgs.append(pr.package)
        tag, rule = rules.tag_of(buf.exporter, buf.name, names, pkgs, True)
        prov = dict(buf.provenance)
        prov["holders"] = ", ".join(sorted(set(by_pid.values()))) + " (fd or mapping not known)"
        bufs[key] = dataclasses.replace(buf, holders=hs, tag=tag, tag_rule=rule,
                                        sources=tuple(sorted(set(buf.sources) | set(by_pid.values()))),
                                        provenance=prov)
    return dataclasses.replace(snap, buffers=bufs, processes=procs)


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
            if (_is_cmd(s, "dmabuf_dump") or _is_cmd(s, "dmabuf_dump", "-b") or _ends(s, "dma_buf/bufinfo", "/dmaprocs", "/procinfo")
                    or _is_cmd(s, "getprop")):
                keep.append(f"------ {s.title} ({s.source}) ------\n{s.text}")
            for name in ("meminfo", "gpu"):
                if name in s.services:
                    keep.append(f"DUMP OF SERVICE {name}: (from {s.title})\n{s.services[name]}")
        return (br.header + "\n" + "".join(k if k.endswith("\n") else k + "\n" for k in keep)).encode("utf-8", "replace")

    def close(self) -> None:
        pass
