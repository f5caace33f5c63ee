"""Sources that report totals or per-process numbers rather than individual buffers (ION debugfs,
ION/dma-heap sysfs totals, Mali/KGSL/gpu_mem, dumpsys meminfo, vendor dmaprocs, memtrack), and the
processed dumps that do list buffers (dmabuf_dump): records -> Builder.

What they say goes to `Snapshot.reported` (device-wide, bytes) and `Process.reported` (per
process, bytes), where the reconciliation and the presenters show it beside droidtrack's own sums.
Only dmabuf_dump and memtrack name buffers themselves; they become buffers only when no better
source (inode-identified fdinfo/maps/sysfs/bufinfo) already did, so nothing is counted twice.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from droidtrack.model.build import Builder, BufferDraft
from droidtrack.model import Holding, MapRef, SourceStatus
from droidtrack.parse import dmabuf_dump as p_dump
from droidtrack.parse import dmaprocs as p_dmaprocs
from droidtrack.parse import gpu as p_gpu
from droidtrack.parse import ion as p_ion
from droidtrack.parse import meminfo as p_meminfo
from droidtrack.parse import memtrack as p_memtrack
from droidtrack.model.problems import Problem


def _by_path(lines: Iterable[tuple]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for t in lines:
        out[t[1]].append(t)
    return out


def _text(lines: list[tuple]) -> str:
    return "\n".join(t[2] for t in lines) + "\n"


def _add(d: dict, k, v: int) -> None:
    d[k] = d.get(k, 0) + v


# ---- the collector's `files` section ----------------------------------------------------------
def feed_files(b: Builder, files: dict[str, list]) -> None:
    if files.get("kernel_totals"):
        res = p_ion.parse_totals(files["kernel_totals"])
        b.problems.extend(res.problems)
        names = {"ion_total_heaps": "ion.total_heaps", "ion_total_pools": "ion.total_pools",
                 "dma_heap_total_pools": "dma_heap.total_pools"}
        for r in res.records:
            b.reported[names.get(r.key, r.key)] = r.bytes
        b.sources["kernel_totals"] = SourceStatus("ok", ", ".join(names.get(r.key, r.key) for r in res.records))
    if files.get("ion_debugfs"):
        feed_ion_debugfs(b, files["ion_debugfs"])
    if files.get("mali"):
        for path, lines in _by_path(files["mali"]).items():
            feed_gpu_records(b, p_gpu.parse_mali(_text(lines)), "mali")
    if files.get("kgsl"):
        feed_gpu_records(b, p_gpu.parse_kgsl(files["kgsl"]), "kgsl")
    if files.get("dmaprocs"):
        for path, lines in _by_path(files["dmaprocs"]).items():
            feed_dmaprocs(b, _text(lines))
    # memtrack (pid:memtrack, memtrack_debug) is fed by feed_memtrack_files once buffers and
    # references are in: it adopts bufinfo rows and legacy mappings


def feed_memtrack_files(b: Builder, files: dict[str, list]) -> None:
    """/proc/<pid>/memtrack and debugfs memtrack from the collector's `files` section."""
    entries: list = []
    for path, lines in _by_path(files.get("pid:memtrack", ())).items():
        res = p_memtrack.parse(_text(lines))
        b.problems.extend(res.problems)
        entries.extend(res.records)
    debug = None
    if files.get("memtrack_debug"):
        res = p_memtrack.parse_debug(_text(files["memtrack_debug"]))
        b.problems.extend(res.problems)
        b.reported["memtrack.debug_total"] = sum(r.size for r in res.records)
        debug = res.records
    feed_memtrack(b, entries, debug)


def feed_ion_debugfs(b: Builder, lines: list[tuple]) -> None:
    heaps = clients = 0
    total = 0
    for path, pl in _by_path(lines).items():
        rel = path[len("/sys/kernel/debug/ion/"):]
        kind, _, name = rel.partition("/")
        if kind == "heaps" and name and not name.endswith("_shrink"):
            res = p_ion.parse_heap(_text(pl), name)
            heaps += 1
        elif kind == "clients" and name:
            res = p_ion.parse_client(_text(pl), name)
            clients += 1
        else:
            continue
        b.problems.extend(res.problems)
        for r in res.records:
            cls = type(r).__name__
            if cls == "IonClientUsage" and r.pid:
                if kind == "heaps":   # the clients files repeat the heaps' numbers: count once
                    _add(b.process(r.pid).reported, f"ion.{r.heap}", r.bytes)
            elif cls == "IonOrphan":
                _add(b.reported, f"ion.{r.heap}.orphaned_listed", r.bytes)
            elif cls == "IonHeapTotal" and r.total is not None:
                b.reported[f"ion.{r.heap}.total"] = r.total
                total += r.total
    if heaps:
        b.reported["ion.debugfs.total"] = total
    b.sources["ion_debugfs"] = SourceStatus("ok", f"{heaps} heaps, {clients} clients")


def feed_gpu_records(b: Builder, res, source: str) -> None:
    b.problems.extend(res.problems)
    n = 0
    for r in res.records:
        cls = type(r).__name__
        if cls == "GpuProcMemory" and r.pid is not None:
            _add(b.process(r.pid).reported, f"{r.source}.{r.kind}", r.bytes)
            n += 1
        elif cls == "GpuTotal":
            key = f"gpu.{r.source}" + (f".{r.kind}" if r.kind and r.kind != "total" else "")
            b.reported[key] = r.bytes
    b.sources[f"gpu_{source}"] = SourceStatus("ok", f"{n} per-process figures")


def feed_dmaprocs(b: Builder, text: str) -> None:
    res = p_dmaprocs.parse(text)
    b.problems.extend(res.problems)
    for r in res.records:
        if type(r).__name__ == "DmaprocsProcess":
            b.process(r.pid).reported["dmaprocs"] = r.total
    b.sources["dmaprocs"] = SourceStatus("ok", f"{len(res.records)} records")


def feed_memtrack(b: Builder, entries: list, debug: list | None = None) -> None:
    """/proc/<pid>/memtrack (2016 RFC) and its debugfs list. Its ids are not inodes: where an
    inode-identified source named the buffers, memtrack only gives per-process figures.

    Otherwise (a 4.9 kernel: bufinfo rows have no identity, fd links and maps all say
    anon_inode:dmabuf) memtrack ids become the buffers. Each adopts one bufinfo row of the same
    size (rows of one size are indistinguishable, so a field is taken only where all of them
    agree), and the mappings read from maps/smaps at the VMAs memtrack lists. Bufinfo rows no id
    adopted stay as buffers of their own: with every holding process covered by memtrack they
    are held by no process. The debugfs list adds the ids no process references."""
    if not entries and not debug:
        return
    for e in entries:
        _add(b.process(e.pid).reported, "memtrack", e.size)
    if any(k.startswith("ino:") for k in b.buffers):
        b.sources["memtrack"] = SourceStatus("ok", f"{len(entries)} entries (per-process figures)")
        return
    sizes: dict[int, int] = {}
    tags: dict[int, str] = {}
    for r in (*(debug or ()), *entries):      # both name an id's size and tag
        sizes.setdefault(r.ident, r.size)
        if r.tag:
            tags.setdefault(r.ident, r.tag)
    # bufinfo rows without identity, by size, in the kernel's order, and the fields all rows of
    # a size agree on (the only ones an id may take from the row it adopts)
    rows: dict[int, list[BufferDraft]] = defaultdict(list)
    for k, d in b.buffers.items():
        if k.startswith("bufinfo:") and d.inode is None and d.size is not None:
            rows[d.size].append(d)
    agreed: dict[int, dict[str, object]] = {}
    for size, peers in rows.items():
        agreed[size] = {}
        for f in ("exporter", "count", "attached"):
            vals = {getattr(r, f) for r in peers}
            if len(vals) == 1:
                agreed[size][f] = vals.pop()
    drafts: dict[int, BufferDraft] = {}
    unmatched = 0
    for ident in sorted(sizes):
        key = f"memtrack:{ident}"
        d = b.buffers.get(key)
        if d is None:
            d = b.buffers[key] = BufferDraft(key)
        drafts[ident] = d
        d.sources.add("memtrack")
        d.offer("size", sizes[ident], "memtrack", {"memtrack": 1})
        if ident in tags:
            d.offer("name", tags[ident], "memtrack", {"memtrack": 1})
        same = rows.get(sizes[ident])
        if same:
            row = same.pop(0)
            del b.buffers[row.key]
            d.sources.update(row.sources)
            fields = agreed[sizes[ident]]
            for f in ("exporter", "count"):
                if f in fields:
                    src = row.provenance.get(f, "bufinfo")
                    d.offer(f, fields[f], src, {src: 0})
            if "attached" in fields:
                d.attached = fields["attached"]
            d.provenance.setdefault("bufinfo", "a bufinfo row of the same size (rows carry no identity)")
        elif rows:
            unmatched += 1
    if unmatched:
        b.problems.append(Problem("memtrack", f"{unmatched} memtrack buffers have no bufinfo row of their size: "
                                  "bufinfo and memtrack disagree (a buffer came or went between the reads)"))
    legacy = b.legacy_maps
    for e in entries:
        d = drafts[e.ident]
        if e.vmas:
            for (start, end, flags, pgoff) in e.vmas:
                ref = legacy.pop((e.pid, start), None)
                if ref is None:
                    ref = MapRef(start=start, end=end, offset=pgoff, perms=flags.rstrip("#-"))
                else:
                    u = b.unjoined.get(e.pid)
                    if u and u["maps"]:
                        u["maps"] -= 1
                        u["bytes"] = max(u["bytes"] - (ref.end - ref.start), 0)
                b.add_map_ref(d, e.pid, ref)
        else:
            # listed for this process without a mapping: held by a handle (an fd; its number unknown)
            b.explicit_holdings.setdefault(d.key, {})[e.pid] = Holding(by="fd")
            d.provenance.setdefault("holders", "memtrack (handles; fd numbers unknown)")
    # the legacy fd links of a process memtrack lists are its memtrack buffers
    listed = {e.pid for e in entries}
    for pid in [pid for pid in b.unjoined if pid in listed]:
        u = b.unjoined[pid]
        u["fds"] = 0
        if not u["maps"]:
            del b.unjoined[pid]
    left = sum(len(v) for v in rows.values())
    if not b.unjoined and not unmatched:
        b.identity_complete = True      # every reference was joined through memtrack
    if left:
        b.problems.append(Problem("memtrack", f"{left} bufinfo rows were adopted by no memtrack id: "
                                  "buffers no process references" + ("" if b.identity_complete else
                                                                     " (or not joined)")))
    b.sources["memtrack"] = SourceStatus("ok", f"{len(entries)} entries, {len(drafts)} buffers")


# ---- framework dumps --------------------------------------------------------------------------
_MEMINFO_KEYS = {"dmabuf": "dumpsys.dmabuf", "dmabuf_heaps": "dumpsys.dmabuf_heaps",
                 "dmabuf_heaps_pool": "dumpsys.dmabuf_heaps_pool", "ion": "dumpsys.ion",
                 "gpu": "dumpsys.gpu", "kernel_cma": "dumpsys.kernel_cma"}


def feed_meminfo(b: Builder, text: str) -> None:
    res = p_meminfo.parse(text)
    b.problems.extend(res.problems)
    n_apps = 0
    for r in res.records:
        cls = type(r).__name__
        if cls == "SystemLine" and r.key in _MEMINFO_KEYS:
            key = _MEMINFO_KEYS[r.key]
            b.reported[key] = r.total
            for part, v in r.parts.items():
                b.reported[f"{key}_{part}"] = v
        elif cls == "AppMemtrack" and r.pid is not None:
            n_apps += 1
            p = b.process(r.pid)
            for f in ("gfx_dev", "egl_mtrack", "gl_mtrack", "other_mtrack", "graphics_summary"):
                v = getattr(r, f)
                if v is not None:
                    p.reported[f"meminfo.{f}"] = v
            if r.package and not p.cmdline:
                p.cmdline = (r.package,)
        elif cls == "CategoryTotal":
            b.reported[f"dumpsys.category.{r.kind}"] = r.bytes
    b.sources["dumpsys_meminfo"] = SourceStatus("ok", f"{n_apps} apps' memtrack rows, "
                                                f"{sum(1 for k in b.reported if k.startswith('dumpsys.'))} totals")


def feed_dumpsys_gpu(b: Builder, text: str) -> None:
    feed_gpu_records(b, p_gpu.parse_dumpsys_gpu(text), "dumpsys")


def feed_dmabuf_dump(b: Builder, text: str) -> None:
    """dmabuf_dump output: buffers by inode with per-process holders (fd vs map known only in -a)."""
    res = p_dump.parse(text)
    b.problems.extend(res.problems)
    have_inodes = any(k.startswith("ino:") for k in b.buffers)
    holders: dict[int, dict[int, str]] = defaultdict(dict)
    for r in res.records:
        cls = type(r).__name__
        if cls == "DumpBuffer":
            if not have_inodes or f"ino:{r.inode}" not in b.buffers:
                d = b.buffer_by_inode(r.inode, None, "dmabuf_dump")
                if d.size is None:
                    d.offer("size", r.rss, "dmabuf_dump", {"dmabuf_dump": 1})
                    d.provenance["size"] = "dmabuf_dump (kB, rounded down)"
                d.offer("name", r.name, "dmabuf_dump", {"dmabuf_dump": 1})
                d.offer("exporter", r.exporter, "dmabuf_dump", {"dmabuf_dump": 1})
            # who holds it: kept even where another source named the buffer (fd vs map unknown;
            # real fd/map references from /proc win over these in the build)
            holders[r.inode].setdefault(r.pid, "unknown")
            p = b.process(r.pid)
            if not p.name:
                p.name = r.comm
        elif cls == "DumpBufferRefs":
            d = b.buffer_by_inode(r.inode, None, "dmabuf_dump")
            if d.size is None:
                d.offer("size", r.size, "dmabuf_dump", {"dmabuf_dump": 2})
            for pid in set(r.fd_refs) | set(r.map_refs):
                if r.combined:
                    how = "unknown"
                else:
                    how = "+".join(k for k, refs in (("fd", r.fd_refs), ("map", r.map_refs)) if refs.get(pid))
                holders[r.inode][pid] = how or "unknown"
        elif cls == "DumpSysfsBuffer" and not have_inodes:
            d = b.buffer_by_inode(r.inode, r.size, "dmabuf_dump")
            d.offer("size", r.size, "dmabuf_dump", {"dmabuf_dump": 3})
            d.offer("exporter", r.exporter, "dmabuf_dump", {"dmabuf_dump": 3})
        elif cls == "DumpTotals":
            for f in ("dmabuf_total", "kernel_rss", "userspace_rss", "userspace_pss"):
                v = getattr(r, f)
                if v is not None:
                    b.reported["dmabuf_dump." + ("total" if f == "dmabuf_total" else f)] = v
        elif cls == "DumpProcessTotal":
            b.process(r.pid).reported["dmabuf_dump.rss"] = r.rss
            if r.pss is not None:
                b.process(r.pid).reported["dmabuf_dump.pss"] = r.pss
    for inode, hs in holders.items():
        d = b.buffers.get(f"ino:{inode}")
        if d is None:
            continue
        for pid, how in hs.items():
            b.explicit_holdings.setdefault(d.key, {})[pid] = Holding(by=how)
    b.sources["dmabuf_dump"] = SourceStatus("ok", f"{getattr(res, 'mode', '?')} output, {len(res.records)} records")
