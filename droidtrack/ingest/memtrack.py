"""The feeder of the 2016 memtrack RFC's files -> Builder: `/proc/<pid>/memtrack` (per process:
its buffers by memtrack id, with their VMAs in the final version) and `/sys/kernel/debug/memtrack`
(every tracked buffer). Keys (docs/formats.md): per process `memtrack`, device
`memtrack.debug_total`.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from droidtrack.model import Holding, MapRef, SourceStatus
from droidtrack.model.build import Builder, BufferDraft
from droidtrack.model.problems import Problem
from droidtrack.parse import memtrack as p_memtrack


def feed_memtrack_texts(b: Builder, texts: Iterable[str], debug_text: str | None = None) -> None:
    """/proc/<pid>/memtrack files, each parsed alone (its header names its pid: rows of a file
    without one are never given to the file before it), and the debugfs list."""
    entries: list = []
    for text in texts:
        entries.extend(b.records(p_memtrack.parse(text)))
    debug = None
    if debug_text:
        debug = b.records(p_memtrack.parse_debug(debug_text))
        b.reported["memtrack.debug_total"] = sum(r.size for r in debug)
    feed_memtrack(b, entries, debug)


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
        rep = b.process(e.pid).reported
        rep["memtrack"] = rep.get("memtrack", 0) + e.size
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
        d.offer("size", sizes[ident], "memtrack")
        if ident in tags:
            d.offer("name", tags[ident], "memtrack")
        same = rows.get(sizes[ident])
        if same:
            row = same.pop(0)
            del b.buffers[row.key]
            d.sources.update(row.sources)
            fields = agreed[sizes[ident]]
            for f in ("exporter", "count"):
                if f in fields:
                    # a row matched by its size alone: ranked 0 (below any source the table lists)
                    d.offer(f, fields[f], row.provenance.get(f, "bufinfo"), rank_as="memtrack.size_match")
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
