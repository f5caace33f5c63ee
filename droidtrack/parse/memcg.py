"""The collector's `memcg` section: whether dma-heap charges memory cgroups, and the cgroups'
kernel memory (Linux 7.0+: the `dma_heap.mem_accounting` module parameter).

With `dma_heap.mem_accounting=1` on the kernel command line, the system heap's pages are charged
to the memory cgroup of the process that allocated them. memory.stat has no key of their own: they
are in its `kernel` figure, with the cgroup's other kernel memory (slab, page tables, stacks...).

The section is `grep -H -a -E '^([YN01]$|kernel )'` over (paths below the collector's root):

    /sys/module/dma_heap/parameters/mem_accounting      Y or N (the section exists only where it does)
    /sys/fs/cgroup/memory.stat                          the root cgroup's, where the kernel has it
    /sys/fs/cgroup/<name>/memory.stat                   each top-level cgroup v2 directory's

the last two only when the parameter reads Y. A line comes out as `PATH:Y` or `PATH:kernel N`.

Hostile input: a cgroup's name may hold any byte but '/' (a newline too, which splits grep's line):
a line is read only when it starts with one of the paths above exactly, the name between the
cgroup directory and `/memory.stat:` holding no '/', so a forged line cannot be taken for another
cgroup's; anything else (a number that is not decimal, a line cut short, an unknown path) is
skipped and said. A cgroup seen twice keeps its first figure, and says so.
"""
from __future__ import annotations

from dataclasses import dataclass

from droidtrack.parse._lines import Problems, numbered_lines, parser, to_int, MAX_LINE

SOURCE = "memcg"
PARAM = "/sys/module/dma_heap/parameters/mem_accounting"
CGROUP = "/sys/fs/cgroup/"
STAT = "memory.stat:"


@dataclass(frozen=True, slots=True)
class MemcgLine:
    kind: str            # "accounting": the parameter (value 1 or 0); "kernel": a cgroup's figure
    cgroup: str | None   # "" the root cgroup, else a top-level cgroup's name; None for "accounting"
    value: int           # 1/0, or bytes
    line: int


@parser(SOURCE)
def parse(text: str, root: str, recs: list, p: Problems) -> None:
    root = (root or "").rstrip("/")
    param = root + PARAM + ":"
    cg = root + CGROUP
    seen: set[str] = set()
    said = False
    for n, line in numbered_lines(text, p, MAX_LINE):
        if not line.strip():
            continue
        if line.startswith(param):
            v = line[len(param):].strip()
            if v in ("Y", "1", "N", "0"):
                if said:
                    p.skip(n, line, "mem_accounting read twice; the first kept")
                else:
                    said = True
                    recs.append(MemcgLine("accounting", None, 1 if v in ("Y", "1") else 0, n))
            else:
                p.skip(n, line, "mem_accounting is neither Y nor N; skipped")
            continue
        if not line.startswith(cg):
            p.skip(n, line)
            continue
        rest = line[len(cg):]
        if rest.startswith(STAT):
            name, tail = "", rest[len(STAT):]
        else:
            name, sep, tail = rest.partition("/")
            if not sep or not name or not tail.startswith(STAT):
                p.skip(n, line)
                continue
            tail = tail[len(STAT):]
        key, _, num = tail.partition(" ")
        v = to_int(num) if key == "kernel" else None
        if v is None:
            p.skip(n, line, "not a 'kernel <bytes>' line of memory.stat; skipped")
            continue
        if name in seen:
            p.skip(n, line, f"cgroup {name or '/'!r} read twice; the first figure kept")
            continue
        seen.add(name)
        recs.append(MemcgLine("kernel", name, v, n))
