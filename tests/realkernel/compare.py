"""Compare what a real kernel showed with what the scenario did (its expected JSON).

Two comparisons, each returning a list of human-readable mismatches (empty = all matched):

- `check_raw_capture(capture, expected)`: the collector's raw sections (bufinfo, fdinfo, fd links,
  maps, smaps) against the expected answer, read with a few regular expressions here, on purpose
  independent of droidtrack's parsers. It pins what formats.md says about the kernel's text.
- `compare_snapshot(doc, expected)`: droidtrack's `droidtrack.snapshot/1` JSON against the expected
  answer: every buffer (inode, size, name, exporter, attached devices), every holder (fds and
  mappings per pid), the per-process accounting and the totals.

`expected_view(expected)` derives the numbers droidtrack should report from the expected answer
with the accounting rules (rss, pss, fd_only, mapped, kernel_only); `snapshot_doc_from_expected`
renders it in the snapshot JSON shape so the comparator itself can be tested without a VM.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any


# ---- the expected answer, projected onto droidtrack's accounting ------------------------------

@dataclass
class ExpectedProcess:
    pid: int
    comm: str
    rss: int = 0
    pss_exact: Fraction = Fraction(0)
    fd_only: int = 0
    mapped: int = 0
    buffers: int = 0


@dataclass
class ExpectedView:
    buffers: dict[int, dict[str, Any]]            # inode -> buffer (expected JSON entry)
    processes: dict[int, ExpectedProcess]
    total_buffers: int = 0
    total_bytes: int = 0
    userspace: int = 0
    kernel_only: int = 0
    by_exporter: dict[str, int] = field(default_factory=dict)
    pids: set[int] = field(default_factory=set)


def expected_view(expected: dict[str, Any]) -> ExpectedView:
    procs = {p["pid"]: ExpectedProcess(p["pid"], p["comm"]) for p in expected["processes"]}
    v = ExpectedView(buffers={}, processes=procs, pids=set(procs))
    for b in expected["buffers"]:
        v.buffers[b["inode"]] = b
        size = b["size"]
        v.total_buffers += 1
        v.total_bytes += size
        v.by_exporter[b["exporter"]] = v.by_exporter.get(b["exporter"], 0) + size
        holders = {int(pid): h for pid, h in b["holders"].items()}
        if not holders:
            v.kernel_only += size
            continue
        v.userspace += size
        for pid, h in holders.items():
            p = procs[pid]
            p.buffers += 1
            p.rss += size
            p.pss_exact += Fraction(size, len(holders))
            if h["maps"]:
                p.mapped += size
            else:
                p.fd_only += size
    return v


def _maps_key(maps: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
    return sorted((int(m["start"]), int(m["end"]), int(m["offset"])) for m in maps)


def snapshot_doc_from_expected(expected: dict[str, Any]) -> dict[str, Any]:
    """What a correct droidtrack snapshot of the scenario looks like (the fields compared)."""
    v = expected_view(expected)
    # PSS remainders: one byte each to the lowest pids, as droidtrack's account.py does
    pss = {pid: 0 for pid in v.processes}
    for b in expected["buffers"]:
        pids = sorted(int(p) for p in b["holders"])
        if pids:
            share, rem = divmod(b["size"], len(pids))
            for i, pid in enumerate(pids):
                pss[pid] += share + (1 if i < rem else 0)
    return {
        "schema": "droidtrack.snapshot/1",
        "buffers": [{
            "inode": b["inode"], "size": b["size"], "exporter": b["exporter"], "name": b["name"],
            "attached": list(b["attached"]), "tag": "other",
            "holders": {pid: {"fds": list(h["fds"]), "maps": [dict(m) for m in h["maps"]]}
                        for pid, h in b["holders"].items()},
        } for b in expected["buffers"]],
        "processes": [{
            "pid": p.pid, "name": p.comm, "rss": p.rss, "pss": pss[p.pid], "fd_only": p.fd_only,
            "mapped": p.mapped, "in_rss": 0, "by_tag": {"other": p.rss} if p.rss else {},
        } for p in v.processes.values()],
        "totals": {"buffers": v.total_buffers, "bytes": v.total_bytes, "userspace": v.userspace,
                   "kernel_only": v.kernel_only, "by_tag": {"other": v.total_bytes},
                   "by_exporter": dict(v.by_exporter)},
        "sources": {}, "problems": [],
    }


# ---- droidtrack's snapshot JSON against the expected answer -----------------------------------

def compare_snapshot(doc: dict[str, Any], expected: dict[str, Any], raw: RawFacts | None = None,
                     unsure_names: frozenset[int] = frozenset(), attached_known: bool = True) -> list[str]:
    """`raw` (from parse_raw of the same capture) adds a check of in_rss against smaps' Rss.
    attached_known=False: no source of the capture names attached devices (only bufinfo does;
    the BPF iterator does not), so droidtrack must report none.
    For the inodes in `unsure_names` (names the kernel prints ambiguously: newlines, TABs) an
    unknown name (null) is accepted as well as the exact one; a wrong name never is."""
    out: list[str] = []
    v = expected_view(expected)
    if doc.get("schema") != "droidtrack.snapshot/1":
        out.append(f"schema is {doc.get('schema')!r}, not 'droidtrack.snapshot/1'")
    got_bufs: dict[Any, dict[str, Any]] = {}
    for b in doc.get("buffers", []):
        if b.get("inode") in got_bufs:
            out.append(f"inode {b.get('inode')} listed twice")
        got_bufs[b.get("inode")] = b
    for ino, e in v.buffers.items():
        g = got_bufs.get(ino)
        what = f"buffer {e['id']} (inode {ino})"
        if g is None:
            out.append(f"{what}: missing")
            continue
        for k in ("size", "exporter"):
            if g.get(k) != e[k]:
                out.append(f"{what}: {k} {g.get(k)!r}, expected {e[k]!r}")
        gname = g.get("name")
        if e["name"] is None:
            if gname not in (None, ""):
                out.append(f"{what}: name {gname!r}, expected unnamed (null)")
        elif gname != e["name"] and not (ino in unsure_names and gname is None):
            out.append(f"{what}: name {gname!r}, expected {e['name']!r}")
        want_att = sorted(e["attached"]) if attached_known else []
        if sorted(g.get("attached") or []) != want_att:
            out.append(f"{what}: attached {g.get('attached')!r}, expected {want_att!r}")
        gh = {str(pid): h for pid, h in (g.get("holders") or {}).items()}
        eh = e["holders"]
        for pid in sorted(set(gh) | set(eh), key=int):
            if pid not in eh:
                out.append(f"{what}: held by pid {pid}, which holds nothing of it")
                continue
            if pid not in gh:
                out.append(f"{what}: holder pid {pid} missing")
                continue
            if sorted(gh[pid].get("fds", [])) != sorted(eh[pid]["fds"]):
                out.append(f"{what}: pid {pid} fds {sorted(gh[pid].get('fds', []))}, expected {sorted(eh[pid]['fds'])}")
            gm, em = _maps_key(gh[pid].get("maps", [])), _maps_key(eh[pid]["maps"])
            if gm != em:
                out.append(f"{what}: pid {pid} maps {[(hex(s), hex(t), hex(o)) for s, t, o in gm]}, "
                           f"expected {[(hex(s), hex(t), hex(o)) for s, t, o in em]}")
    for ino, g in got_bufs.items():
        if ino not in v.buffers:
            out.append(f"unexpected buffer inode {ino} size {g.get('size')} exporter {g.get('exporter')!r}")

    procs = {p.get("pid"): p for p in doc.get("processes", [])}
    held_by_scenario = 0
    for pid, e in v.processes.items():
        g = procs.get(pid)
        if g is None:
            if e.rss:
                out.append(f"process {pid} ({e.comm}): missing from processes[]")
            continue
        if g.get("name") != e.comm:
            out.append(f"process {pid}: name {g.get('name')!r}, expected {e.comm!r}")
        for k in ("rss", "fd_only", "mapped"):
            if g.get(k) != getattr(e, k):
                out.append(f"process {pid} ({e.comm}): {k} {g.get(k)}, expected {getattr(e, k)}")
        gp = g.get("pss")
        # each shared buffer's share may be rounded either way by less than one byte
        if not isinstance(gp, int) or abs(gp - e.pss_exact) >= max(e.buffers, 1):
            out.append(f"process {pid} ({e.comm}): pss {gp}, expected {float(e.pss_exact):.2f} (± rounding)")
        if isinstance(gp, int):
            held_by_scenario += gp
        if raw is not None:
            want_in_rss = 1024 * sum(kb for (p, _), kb in raw.smaps_rss.items() if p == pid)
            if g.get("in_rss") != want_in_rss:
                out.append(f"process {pid} ({e.comm}): in_rss {g.get('in_rss')}, smaps says {want_in_rss}")
        if sum((g.get("by_tag") or {}).values()) != e.rss:
            out.append(f"process {pid}: by_tag sums to {sum((g.get('by_tag') or {}).values())}, rss is {e.rss}")
    if held_by_scenario != v.userspace:
        out.append(f"Σ pss over the scenario's processes is {held_by_scenario}, expected the held bytes {v.userspace}")
    for pid, g in procs.items():
        if pid not in v.pids and any(g.get(k) for k in ("rss", "pss", "fd_only", "mapped")):
            out.append(f"process {pid} ({g.get('name')!r}) is not the scenario's but holds buffers: rss {g.get('rss')}")

    t = doc.get("totals", {})
    for k, want in (("buffers", v.total_buffers), ("bytes", v.total_bytes), ("userspace", v.userspace),
                    ("kernel_only", v.kernel_only)):
        if t.get(k) != want:
            out.append(f"totals.{k} {t.get(k)}, expected {want}")
    if dict(t.get("by_exporter") or {}) != v.by_exporter:
        out.append(f"totals.by_exporter {t.get('by_exporter')}, expected {v.by_exporter}")
    if sum((t.get("by_tag") or {}).values()) != v.total_bytes:
        out.append(f"totals.by_tag sums to {sum((t.get('by_tag') or {}).values())}, expected {v.total_bytes}")
    return out


# ---- the collector's raw text against the expected answer -------------------------------------

BUFINFO_HEADER = "size    \tflags   \tmode    \tcount   \texp_name\tino     \tname"
_BUFROW = re.compile(r"^(\d{8,})\t([0-9a-f]{8})\t([0-9a-f]{8})\t(\d{8,})\t([^\t]*)\t(\d{8,})\t(.*)$")
_MAPS = re.compile(r"^(?P<path>/proc/(?P<pid>\d+)/maps):(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) (?P<perms>\S{4}) "
                   r"(?P<off>[0-9a-f]+) (?P<dev>[0-9a-f]+:[0-9a-f]+) (?P<ino>\d+) +(?P<name>/dmabuf.*)$")


@dataclass
class RawFacts:
    """What the raw sections said, per inode, for reporting (counts, offsets, flags)."""
    bufinfo: dict[int, dict[str, Any]] = field(default_factory=dict)
    fdinfo: dict[tuple[int, int], dict[str, str]] = field(default_factory=dict)
    links: dict[tuple[int, int], str] = field(default_factory=dict)
    maps: list[dict[str, Any]] = field(default_factory=list)
    smaps_rss: dict[tuple[int, int], int] = field(default_factory=dict)   # (pid, start) -> kB
    header: str = ""
    total_line: str = ""
    iterator: dict[int, dict[str, Any]] = field(default_factory=dict)


def fdinfo_grep(f) -> bytes:
    """The fdinfo section as v1's grep printed it: "/proc/PID/fdinfo/FD:line" (v2 streams carry
    head's output, Section.form "head")."""
    from droidtrack.parse.headout import as_grep_lines
    sec = f.get("fdinfo")
    if sec is None:
        return b""
    if sec.form != "head":
        return sec.content
    return as_grep_lines(sec.content, f.proc.encode(), f.root.encode() + b"/proc/")


def parse_raw(capture: bytes, kernel_list: str = "bufinfo") -> tuple[RawFacts, list[str]]:
    """kernel_list: the section listing every buffer, "bufinfo" (debugfs) or "dmabuf_iter" (the
    pinned BPF iterator; the other must then be absent or missing)."""
    from droidtrack.collect import frames
    out: list[str] = []
    f = frames.decode(capture)
    r = RawFacts()
    if not f.complete:
        out.append("capture is not complete (no DONE)")
    other = "dmabuf_iter" if kernel_list == "bufinfo" else "bufinfo"
    if kernel_list == "dmabuf_iter" and f.get(other) is not None and f.get(other).status != "missing":
        out.append(f"section {other}: {f.get(other).status}, expected missing (only the iterator)")
    # the iterator's four lines per buffer (inode, size, name, exporter), read here on their own
    it = f.get("dmabuf_iter")
    if it is not None and it.status == "ok":
        lines = it.text().split("\n")
        if lines[-1] != "" or (len(lines) - 1) % 4:
            out.append(f"dmabuf_iter: {len(lines) - 1} lines, not four per buffer")
        for k in range(0, len(lines) - 4, 4):
            ino, size, name, exp = lines[k:k + 4]
            if not (ino.isdigit() and size.isdigit()):
                out.append(f"dmabuf_iter: record at line {k + 1} is not inode, size: {lines[k:k + 2]!r}")
                continue
            if int(ino) in r.iterator:
                out.append(f"dmabuf_iter: inode {ino} listed twice")
            r.iterator[int(ino)] = {"size": int(size), "name": name, "exporter": exp}
    for s in ("fdlinks", "fdinfo", "maps", "smaps", kernel_list):
        sec = f.get(s)
        if sec is None or sec.status != "ok":
            out.append(f"section {s}: {'absent' if sec is None else sec.status} {sec.stderr_text() if sec else ''}")
    # bufinfo
    lines = (f.get("bufinfo").text() if f.get("bufinfo") else "").split("\n")
    cur = None
    for i, line in enumerate(lines):
        if line.startswith("size"):
            r.header = line
        elif line.startswith("Total ") and "objects" in line:
            r.total_line = line
        m = _BUFROW.match(line)
        if m:
            ino = int(m.group(6))
            cur = r.bufinfo[ino] = {"size": int(m.group(1)), "flags": m.group(2), "mode": m.group(3),
                                    "count": int(m.group(4)), "exporter": m.group(5), "name": m.group(7),
                                    "attached": []}
        elif cur is not None and line.startswith("\t") and line not in ("\tAttached Devices:",) \
                and " fence:" not in line:
            cur["attached"].append(line[1:])
        elif line.startswith("Total ") and "devices attached" in line:
            cur = None
    # fdinfo: "/proc/PID/fdinfo/FD:key:\tvalue"
    for line in fdinfo_grep(f).decode("utf-8", "backslashreplace").split("\n"):
        m = re.match(r"^/proc/(\d+)/fdinfo/(\d+):([a-z_]+):\t(.*)$", line)
        if m:
            r.fdinfo.setdefault((int(m.group(1)), int(m.group(2))), {})[m.group(3)] = m.group(4)
    # fd links: a "DIR:" header per process then ls -l lines "... FD -> TARGET"
    pid = None
    for line in (f.get("fdlinks").text() if f.get("fdlinks") else "").split("\n"):
        m = re.match(r"^/proc/(\d+)/fd/?:$", line)
        if m:
            pid = int(m.group(1))
            continue
        m = re.match(r"^.* (\d+) -> (.*)$", line)
        if m and pid is not None and (m.group(2).startswith("/dmabuf") or "dmabuf" in m.group(2)):
            r.links[(pid, int(m.group(1)))] = m.group(2)
    maps_sec = f.get("maps")
    if maps_sec is not None and maps_sec.form == "names":
        # v2: maps names the files; the VMA lines are smaps' match lines ("PATH/smaps:<vma line>")
        vma_lines = [line.replace("/smaps:", "/maps:", 1) for line in
                     (f.get("smaps").text() if f.get("smaps") else "").split("\n")
                     if re.match(r"^/proc/\d+/smaps:[0-9a-f]+-", line)]
    else:
        vma_lines = (maps_sec.text() if maps_sec else "").split("\n")
    for line in vma_lines:
        m = _MAPS.match(line)
        if m:
            r.maps.append({"pid": int(m.group("pid")), "start": int(m.group("start"), 16),
                           "end": int(m.group("end"), 16), "offset": int(m.group("off"), 16),
                           "perms": m.group("perms"), "ino": int(m.group("ino")), "path": m.group("name")})
        elif line.strip():
            out.append(f"maps: line not understood: {line!r}")
    cur_vma = None
    for line in (f.get("smaps").text() if f.get("smaps") else "").split("\n"):
        m = re.match(r"^/proc/(\d+)/smaps:([0-9a-f]+)-", line)
        if m:
            cur_vma = (int(m.group(1)), int(m.group(2), 16))
            continue
        m = re.match(r"^/proc/\d+/smaps-Rss:\s+(\d+) kB$", line)
        if m and cur_vma:
            r.smaps_rss[cur_vma] = int(m.group(1))
    return r, out


def check_raw_capture(capture: bytes, expected: dict[str, Any],
                      kernel_list: str = "bufinfo") -> tuple[list[str], RawFacts]:
    r, out = parse_raw(capture, kernel_list)
    v = expected_view(expected)
    if kernel_list == "bufinfo":
        if r.header != BUFINFO_HEADER:
            out.append(f"bufinfo header {r.header!r}, expected the 5.19+ header {BUFINFO_HEADER!r}")
        want_total = f"Total {v.total_buffers} objects, {v.total_bytes} bytes"
        if r.total_line != want_total:
            out.append(f"bufinfo total line {r.total_line!r}, expected {want_total!r}")
    else:
        if set(r.iterator) != set(v.buffers):
            out.append(f"dmabuf_iter lists inodes {sorted(r.iterator)}, expected {sorted(v.buffers)}")
        for ino, e in v.buffers.items():
            it = r.iterator.get(ino)
            if it is None:
                continue
            # (our program, like AOSP's, prints a newline in a name as a space; unnamed: empty)
            want = {"size": e["size"], "name": (e["name"] or "").replace("\n", " "), "exporter": e["exporter"]}
            if it != want:
                out.append(f"buffer {e['id']} (inode {ino}): dmabuf_iter says {it}, expected {want}")
    for ino, e in v.buffers.items():
        what = f"buffer {e['id']} (inode {ino})"
        user_refs = sum(len(h["fds"]) + len(h["maps"]) for h in e["holders"].values())
        bi = r.bufinfo.get(ino)
        if bi is None:
            if kernel_list == "bufinfo":
                out.append(f"{what}: no bufinfo row")
        else:
            if bi["size"] != e["size"]:
                out.append(f"{what}: bufinfo size {bi['size']}, expected {e['size']}")
            if bi["exporter"] != e["exporter"]:
                out.append(f"{what}: bufinfo exp_name {bi['exporter']!r}, expected {e['exporter']!r}")
            want_name = e["name"] if e["name"] is not None else "<none>"
            if bi["name"] != want_name:
                out.append(f"{what}: bufinfo name {bi['name']!r}, expected {want_name!r}")
            if bi["attached"] != e["attached"]:
                out.append(f"{what}: bufinfo attached {bi['attached']}, expected {e['attached']}")
            # count = every fd + every mapping (+ the kernel's own references)
            if e["kernel_refs"]:
                if bi["count"] <= user_refs:
                    out.append(f"{what}: bufinfo count {bi['count']}, expected more than the {user_refs} "
                               "fds+maps (the kernel holds references)")
            elif bi["count"] != user_refs:
                out.append(f"{what}: bufinfo count {bi['count']}, expected fds+maps = {user_refs}")
        for pid_s, h in e["holders"].items():
            pid = int(pid_s)
            for fd in h["fds"]:
                fi = r.fdinfo.get((pid, fd))
                w = f"{what}: pid {pid} fd {fd}"
                if fi is None:
                    out.append(f"{w}: no fdinfo")
                    continue
                for k, want in (("size", str(e["size"])), ("exp_name", e["exporter"]), ("ino", str(ino))):
                    if fi.get(k) != want:
                        out.append(f"{w}: fdinfo {k} {fi.get(k)!r}, expected {want!r}")
                if e["name"] is None and "name" in fi:
                    out.append(f"{w}: fdinfo has a name line {fi['name']!r} for an unnamed buffer")
                if e["name"] is not None and fi.get("name") != e["name"]:
                    out.append(f"{w}: fdinfo name {fi.get('name')!r}, expected {e['name']!r}")
                if bi is not None and fi.get("count") != str(bi["count"]):
                    out.append(f"{w}: fdinfo count {fi.get('count')!r} differs from bufinfo's {bi['count']}")
                if "cloexec_fds" in h:
                    # fdinfo flags: octal f_flags, with O_CLOEXEC (02000000) when the fd has FD_CLOEXEC
                    want_flags = "02000002" if fd in h["cloexec_fds"] else "02"
                    if fi.get("flags") != want_flags:
                        out.append(f"{w}: fdinfo flags {fi.get('flags')!r}, expected {want_flags!r}")
                link = r.links.get((pid, fd))
                want_link = "/dmabuf:" + (e["name"] or "")
                if link != want_link:
                    out.append(f"{w}: fd link {link!r}, expected {want_link!r}")
            for m in h["maps"]:
                w = f"{what}: pid {pid} map {m['start']:x}-{m['end']:x}"
                got = [x for x in r.maps if x["pid"] == pid and x["start"] == m["start"]]
                if len(got) != 1:
                    out.append(f"{w}: {len(got)} maps lines")
                    continue
                x = got[0]
                if (x["end"], x["offset"], x["ino"]) != (m["end"], m["offset"], ino):
                    out.append(f"{w}: maps says end {x['end']:x} offset {x['offset']:x} inode {x['ino']}, "
                               f"expected end {m['end']:x} offset {m['offset']:x} inode {ino}")
                want_path = "/dmabuf:" + (e["name"] or "")
                if x["path"] != want_path:
                    out.append(f"{w}: maps path {x['path']!r}, expected {want_path!r}")
                if r.smaps_rss.get((pid, m["start"])) is None:
                    out.append(f"{w}: no smaps Rss")
    for x in r.maps:
        if x["pid"] not in v.pids:
            out.append(f"maps: pid {x['pid']} is not the scenario's but maps dma-buf inode {x['ino']}")
    for (pid, fd), link in r.links.items():
        if pid not in v.pids:
            out.append(f"fd links: pid {pid} is not the scenario's but holds {link!r} at fd {fd}")
        elif not any(fd in e["holders"].get(str(pid), {}).get("fds", []) for e in v.buffers.values()):
            out.append(f"fd links: pid {pid} fd {fd} -> {link!r} was not expected")
    for ino in r.bufinfo:
        if ino not in v.buffers:
            out.append(f"bufinfo: unexpected buffer inode {ino}")
    return out, r
