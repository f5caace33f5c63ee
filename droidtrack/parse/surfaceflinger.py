"""`dumpsys SurfaceFlinger`: the gralloc tables that name who asked for each graphics buffer.

Two tables carry owner evidence (docs/owners.md, "The SurfaceFlinger tables"):

    GraphicBufferAllocator buffers:
            Handle |        Size |     W (Stride) x H | Layers |   Format |      Usage | Requestor
    0xb4000070f706d170 | 10200.00 KiB | 1080 (1088) x 2400 |      1 |        1 | 0x    1b00 | FramebufferSurface
    Total allocated by GraphicBufferAllocator (estimate): 61200.00 KB

(older releases head it `Allocated buffers:` and end the handle with `:` instead of ` |`), and

    Imported gralloc buffers:
    + name:VRI[Activity]#0(BLAST Consumer)0, id:2126008817486, size:10360.25KiB, w/h:1080x2400, usage: 0xb00, …
    	planes: R/G/B/A:	 w/h:1088x2400, stride:4352 bytes, size:10608896
    Total imported by gralloc: 115396.75KiB

Neither names a dma-buf inode: the allocator's size is stride × height × bytes per pixel (an
estimate, not the dma-buf's size), the imported list's `planes … size:` is the real allocation.
A buffer id is the creating process's pid in its high 32 bits and a counter in the low ones.
Requestor and layer names come from apps: they are kept as text, never interpreted, and a name
that contains the list's own field separators is read from the right (the fields SurfaceFlinger
appends after the name) and said to be ambiguous.

    parse(text) -> ParseResult[GrallocBuffer] with .totals {"allocated": bytes, "imported": bytes}
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from droidtrack.model.problems import ParseResult
from droidtrack.parse._lines import KIB, MAX_LINE, Problems, numbered_lines
from droidtrack.parse._lines import guard as _guard

# gralloc usage bits (android.hardware.graphics.common.BufferUsage), lowest first, with the
# words a person reads; CPU read/write are 4-bit enums, not flags
USAGE_BITS: tuple[tuple[int, str], ...] = (
    (1 << 8, "GPU texture"),
    (1 << 9, "GPU render target"),
    (1 << 11, "composer overlay"),
    (1 << 12, "composer client target"),
    (1 << 14, "protected"),
    (1 << 15, "cursor"),
    (1 << 16, "video encoder"),
    (1 << 17, "camera output"),
    (1 << 18, "camera input"),
    (1 << 20, "renderscript"),
    (1 << 22, "video decoder"),
    (1 << 23, "sensor direct data"),
    (1 << 24, "GPU data buffer"),
    (1 << 25, "GPU cube map"),
    (1 << 26, "GPU mipmap complete"),
    (1 << 27, "image encoder"),
    (1 << 32, "front buffer"),
)
_CPU = {0: None, 2: "rarely", 3: "often"}


def usage_words(usage: int) -> tuple[str, ...]:
    """A gralloc usage value in words: ("CPU reads often", "GPU texture", "camera output", …).
    Vendor bits (28–31, 48–63) are named as such; unknown standard bits by their number."""
    words: list[str] = []
    rd, wr = usage & 0xF, (usage >> 4) & 0xF
    if rd:
        words.append(f"CPU reads {_CPU.get(rd) or f'({rd})'}")
    if wr:
        words.append(f"CPU writes {_CPU.get(wr) or f'({wr})'}")
    known = 0xFF
    for bit, word in USAGE_BITS:
        known |= bit
        if usage & bit:
            words.append(word)
    vendor = usage & ((0xF << 28) | (0xFFFF << 48))
    if vendor:
        words.append(f"vendor 0x{vendor:x}")
    rest = usage & ~known & ~vendor
    for b in range(64):
        if rest >> b & 1:
            words.append(f"bit {b}")
    return tuple(words)


@dataclass(frozen=True, slots=True)
class GrallocBuffer:
    """One row of either table. `table`: "allocated" | "imported". Sizes in bytes: `size` is
    what the row says (the allocator's estimate, or the imported KiB figure), `alloc_size` the
    planes' real allocation where printed. `creator_pid` is the high half of the id."""
    table: str
    name: str                       # requestor (allocated) or buffer name (imported)
    size: int
    width: int | None = None
    height: int | None = None
    stride: int | None = None
    layers: int | None = None
    format: int | None = None
    usage: int | None = None
    handle: str | None = None
    id: int | None = None
    alloc_size: int | None = None
    line: int = 0

    @property
    def creator_pid(self) -> int | None:
        """Releases whose ids are (pid << 32 | counter) name the creating process; older ones
        count from 0 in each process (id:1325), which names nobody."""
        return None if self.id is None or self.id < 1 << 32 else self.id >> 32

    @property
    def usage_words(self) -> tuple[str, ...]:
        return () if self.usage is None else usage_words(self.usage)


class GrallocDump(ParseResult):
    """ParseResult with the tables' own totals (bytes) and which tables were present."""

    def __init__(self, records, problems, totals: dict[str, int], tables: tuple[str, ...]) -> None:
        super().__init__(records, problems)
        self.totals = totals
        self.tables = tables


_KIB_NUM = r"(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
_ALLOC_ROW = re.compile(r"^\s*(0x[0-9a-fA-F]+|[0-9a-fA-F]+)\s*[:|]\s*" + _KIB_NUM + r"\s*KiB\s*\|\s*"
                        r"(\d+)\s*\(\s*(\d+)\s*\)\s*x\s*(\d+)\s*\|\s*(\d+)\s*\|\s*([0-9a-fA-FxX]+)\s*\|"
                        r"\s*0x\s*([0-9a-fA-F]+)\s*\|\s?(.*)$")
_ALLOC_TOTAL = re.compile(r"^\s*Total allocated by GraphicBufferAllocator(?: \(estimated?\))?:\s*"
                          + _KIB_NUM + r"\s*KB")
# the imported list's fields after the name, matched from the right of the line
_IMPORT_TAIL = re.compile(r", id:(\d+), size:" + _KIB_NUM + r"\s*KiB, w/h:(\d+)x(\d+), usage: 0x([0-9a-fA-F]+)"
                          r"(?:, req fmt:(\d+))?(?:, [^\n]*)?$")
_IMPORT_TAIL_COUNT = re.compile(r", id:\d+, size:")
_PLANES = re.compile(r"^\s+planes:.*?w/h:(\d+)x(\d+), stride:(\d+) bytes, size:(\d+)\s*$")
_IMPORT_TOTAL = re.compile(r"^\s*Total imported by gralloc:\s*" + _KIB_NUM + r"\s*KiB")
_TABLE_TOTAL = {"allocated": _ALLOC_TOTAL, "imported": _IMPORT_TOTAL}    # a table's last line


def _kib(s: str) -> int:
    """'10360.25' KiB -> bytes, rounded: the tables print KiB with two decimals, and some
    releases print the imported sizes in %g form ('4.3e+03KiB', three digits only), which is
    why the imported rows' `planes … size:` wins where present."""
    if len(s) > 40:
        return 0
    return int((Decimal(s) * KIB).to_integral_value(ROUND_HALF_UP))


def _hex(s: str) -> int:
    """The allocator prints the pixel format with %8X: hexadecimal without 0x."""
    return int(s[2:] if s[:2] in ("0x", "0X") else s, 16)


def parse(text: str) -> GrallocDump:
    res = _guard("surfaceflinger", _parse, text)
    if isinstance(res, GrallocDump):
        return res
    return GrallocDump(res.records, res.problems, {}, ())


def _parse(text: str) -> GrallocDump:
    p = Problems("surfaceflinger")
    recs: list[GrallocBuffer] = []
    totals: dict[str, int] = {}
    tables: list[str] = []
    table: str | None = None
    last_import: int | None = None        # index in recs of the row a `planes:` line belongs to
    for n, line in numbered_lines(text, p, MAX_LINE):
        s = line.strip()
        if s in ("GraphicBufferAllocator buffers:", "Allocated buffers:"):
            table = "allocated"
            tables.append(table)
            continue
        if s == "Imported gralloc buffers:":
            table = "imported"
            tables.append(table)
            last_import = None
            continue
        total = _TABLE_TOTAL.get(table)
        m = None if total is None else total.match(line)
        if m:                   # "Total allocated by …" / "Total imported by …": the table ends
            totals[table] = _kib(m.group(1))
            table = None
            continue
        if table == "allocated":
            m = _ALLOC_ROW.match(line)
            if m:
                recs.append(GrallocBuffer(
                    "allocated", m.group(9), _kib(m.group(2)), width=int(m.group(3)), stride=int(m.group(4)),
                    height=int(m.group(5)), layers=int(m.group(6)), format=_hex(m.group(7)),
                    usage=int(m.group(8), 16), handle=m.group(1), line=n))
                continue
            if "Handle" in s and "Requestor" in s or not s:
                continue
            p.skip(n, line, "not a GraphicBufferAllocator row; skipped")
            continue
        if table == "imported":
            if s.startswith("+ name:"):
                body = line[line.index("+ name:") + 7:]
                # the fields after the name, tried from the rightmost ", id:N, size:" leftwards
                starts = [x.start() for x in _IMPORT_TAIL_COUNT.finditer(body)]
                m = None
                for at in reversed(starts):
                    m = _IMPORT_TAIL.match(body, at)
                    if m is not None:
                        break
                if m is None:
                    p.skip(n, line, "imported buffer row without id/size/usage; skipped")
                    last_import = None
                    continue
                if len(starts) > 1:
                    p.add("buffer name contains the list's own field separators: fields read from the "
                          "right of the line, the name may be cut wrong", line=n, text=line)
                recs.append(GrallocBuffer(
                    "imported", body[:m.start()], _kib(m.group(2)), width=int(m.group(3)),
                    height=int(m.group(4)), format=int(m.group(6)) if m.group(6) else None,
                    usage=int(m.group(5), 16), id=int(m.group(1)), line=n))
                last_import = len(recs) - 1
                continue
            m = _PLANES.match(line)
            if m and last_import is not None:
                r = recs[last_import]
                recs[last_import] = GrallocBuffer(
                    r.table, r.name, r.size, r.width, r.height, int(m.group(3)), r.layers, r.format, r.usage,
                    r.handle, r.id, (r.alloc_size or 0) + int(m.group(4)), r.line)
                continue
            if s:
                p.skip(n, line, "not an imported-buffer row; skipped")
            continue
    if not tables:
        p.add("no GraphicBufferAllocator or imported gralloc table in this text")
    for t in tables:
        if t not in totals:
            p.add(f"the {t} table has no total line: cut short?")
    return GrallocDump(recs, p.done(), totals, tuple(dict.fromkeys(tables)))
