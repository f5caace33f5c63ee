"""`dumpsys meminfo` — the memtrack rows of one app and the system-wide dma-buf/GPU lines.

Two outputs share this parser (formats.md §8), and `dumpsys meminfo -a` prints both:

(a) per app, `dumpsys meminfo <pkg|pid>`: after "** MEMINFO in pid N [pkg] **" a category
    table whose columns vary by release (A5-9: Pss Total, Private Dirty, Private Clean,
    Swap(Pss) Dirty, Heap Size/Alloc/Free; A10+ adds Rss Total). The two header lines are
    zipped into column names to find "Pss Total" and "Private Dirty"; when the header is cut
    off (pasted excerpts), the A5+ order (Pss Total first, Private Dirty second) is assumed and
    said. Rows read: `Gfx dev`, `EGL mtrack`, `GL mtrack`, `Other mtrack`; App Summary
    `Graphics:` and `Private Other:` (first number = Pss). Values are KB.
(b) system, `dumpsys meminfo`: "Total PSS by process:" lines (`262,345K: system (pid 1234)`),
    "Total PSS by category:" lines (`98,460K: EGL mtrack`), and the tail lines
    `DMA-BUF:`, `DMA-BUF Heaps:`, `DMA-BUF Heaps pool:`, `ION:`, `GPU:`, `Kernel CMA:`,
    `Total RAM:`, `Free RAM:`, `Used RAM:`, `Lost RAM:`, `ZRAM:` with their parenthesised parts.
    Numbers carry grouping separators and a K suffix.

Records (bytes): AppMemtrack, SystemLine, CategoryTotal, ProcessMem.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from droidtrack.parse._lines import MAX_LINE, KIB, Problems, grouped_int, numbered_lines, to_int
from droidtrack.parse._lines import guard as _guard
from droidtrack.model.problems import ParseResult, Problem

SOURCE = "dumpsys_meminfo"


@dataclass(frozen=True, slots=True)
class AppMemtrack:
    """Memtrack-related numbers of one process, from `dumpsys meminfo <pkg|pid>` (bytes).

    The category values are the "Pss Total" column; `private_dirty` holds the "Private Dirty"
    column of the same rows (keys "gfx_dev", "egl_mtrack", "gl_mtrack", "other_mtrack") —
    memtrack sets both to the same number, Gfx dev (smaps of the GPU device) does not.
    """
    pid: int | None
    package: str | None
    gfx_dev: int | None = None
    egl_mtrack: int | None = None
    gl_mtrack: int | None = None
    other_mtrack: int | None = None
    graphics_summary: int | None = None   # App Summary "Graphics:" (Pss column)
    private_other: int | None = None      # App Summary "Private Other:"
    private_dirty: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SystemLine:
    """One line of the system summary: key ("dmabuf", "dmabuf_heaps", "dmabuf_heaps_pool",
    "ion", "gpu", "kernel_cma", "total_ram", "free_ram", "used_ram", "lost_ram", "zram"), its
    total and the parts in parentheses ("mapped", "unmapped", "pools", "dmabuf", "private",
    "used_pss", "kernel", "cached_pss", "cached_kernel", "free", "in_swap", "total_swap")."""
    key: str
    total: int
    parts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CategoryTotal:
    """"Total PSS by category" (kind "pss") or "Total RSS by category" (kind "rss") line."""
    label: str          # as printed: "EGL mtrack", "GL mtrack", "Other mtrack", "Gfx dev", ...
    kind: str
    bytes: int


@dataclass(frozen=True, slots=True)
class ProcessMem:
    """"Total PSS/RSS by process" line: `262,345K: system (pid 1234 / activities)`."""
    pid: int
    name: str
    kind: str           # "pss" | "rss"
    bytes: int
    swap: int | None = None


MeminfoRecord = AppMemtrack | SystemLine | CategoryTotal | ProcessMem

_APP_HEADER = re.compile(r"^\s*\*\* MEMINFO in pid (\d+) \[(.*)\] \*\*\s*$")
_MEMTRACK_ROWS = {"Gfx dev": "gfx_dev", "EGL mtrack": "egl_mtrack", "GL mtrack": "gl_mtrack",
                  "Other mtrack": "other_mtrack"}
# cells are numbers, or "..." / "…" where someone condensed the table by hand before pasting it
_CAT_ROW = re.compile(r"^\s*(Gfx dev|EGL mtrack|GL mtrack|Other mtrack)((?:\s+(?:\d+|\.\.\.|…))+)\s*$")
_TABLE_RULE = re.compile(r"^\s*(?:-{4,}\s+){2,}-{4,}\s*$")  # >= 3 columns: not App Summary
_SUMMARY = re.compile(r"^\s*(Graphics|Private Other):\s+(\d+)(?:\s+\d+)?\s*$")
_NUM = r"(\d[\d,.\u00a0\u202f' ]*)K"
_SECTION = re.compile(r"^\s*Total (PSS|RSS) by (process|OOM adjustment|category):\s*$")
_KLINE = re.compile(r"^\s*" + _NUM + r": (.*?)\s*$")
_PROC_TAIL = re.compile(r"^(?P<name>.*) \(pid (?P<pid>\d+)(?: /[^)]*)?\)"
                        r"(?: \(\s*" + _NUM + r" in swap\))?$")
_SWAP_TAIL = re.compile(r"^(?P<label>.*?) \(\s*" + _NUM + r" in swap\)$")
_TAIL = re.compile(r"^\s*(?P<key>DMA-BUF Heaps pool|DMA-BUF Heaps|DMA-BUF Heap|DMA-BUF|ION|GPU|"
                   r"Kernel CMA|Total RAM|Free RAM|Used RAM|Lost RAM|ZRAM):\s*" + _NUM +
                   r"\s*(?P<rest>.*?)\s*$")
_TAIL_KEYS = {"DMA-BUF": "dmabuf", "DMA-BUF Heaps": "dmabuf_heaps", "DMA-BUF Heap": "dmabuf_heaps",
              "DMA-BUF Heaps pool": "dmabuf_heaps_pool", "ION": "ion", "GPU": "gpu",
              "Kernel CMA": "kernel_cma", "Total RAM": "total_ram", "Free RAM": "free_ram",
              "Used RAM": "used_ram", "Lost RAM": "lost_ram", "ZRAM": "zram"}
_PART = re.compile(r"^\s*" + _NUM + r"\s+([A-Za-z][A-Za-z ]*?)\s*$")
_ZRAM = re.compile(r"^physical used for\s+" + _NUM + r" in swap\s*(?:\(\s*" + _NUM +
                   r" total swap\))?")


def _kb(s: str) -> int | None:
    v = grouped_int(s)
    return None if v is None else v * KIB


def parse(text: str) -> ParseResult:
    return _guard(SOURCE, lambda t: _Parser().run(t), text)


class _Parser:
    def __init__(self) -> None:
        self.records: list = []
        self.p = Problems(SOURCE)
        self.app: dict | None = None
        self.cols: dict[str, int] | None = None
        self.col_names: list[str] | None = None
        self.header_lines: list[str] = []
        self.header_guess_said = False
        self.section: tuple[str, str] | None = None
        self.headerless_cat_said = False
        self.seen_app = False
        self.app_line: int | None = None

    def run(self, text: str) -> ParseResult:
        for n, raw in numbered_lines(text, self.p, MAX_LINE):
            s = raw.strip()
            if not s:
                self.section = None
                continue
            self.line(n, raw, s)
        self.flush_app()
        return ParseResult(self.records, self.p.done())

    # -- per app ----------------------------------------------------------------------------
    def new_app(self, pid: int | None, package: str | None, implicit: bool = False) -> None:
        """Start a process's numbers; `implicit` when a row comes without a MEMINFO header
        (a pasted excerpt), in which case the column header already read is kept."""
        self.flush_app()
        self.app = {"pid": pid, "package": package, "private_dirty": {}}
        self.app_line = None
        if not implicit:
            self.cols = None
            self.header_lines = []
        self.seen_app = True

    def flush_app(self) -> None:
        a = self.app
        if a is None:
            return
        self.app = None
        keys = set(a) - {"pid", "package", "private_dirty"}
        if not keys:
            if a["pid"] is not None:
                self.p.add(f"no memtrack rows found for pid {a['pid']} (output cut?)",
                           line=self.app_line)
            return
        self.records.append(AppMemtrack(**a))

    def header(self, n: int, raw: str) -> None:
        """The line of dashes closes the column header: zip the two lines above it."""
        hl = [h.split() for h in self.header_lines[-2:]]
        self.cols = None
        self.col_names = None
        if len(hl) == 2 and len(hl[0]) == len(hl[1]):
            names = [f"{a} {b}" for a, b in zip(*hl)]
            self.col_names = names
            if "Pss Total" in names and "Private Dirty" in names:
                self.cols = {"pss": names.index("Pss Total"),
                             "private_dirty": names.index("Private Dirty")}
        if self.cols is None:
            self.cols = {"pss": 0, "private_dirty": 1}
            self.p.add("category table header missing or not understood; assumed Android 5+ "
                       "column order (Pss Total, Private Dirty, ...)", line=n,
                       text=" / ".join(self.header_lines[-2:]) or None)

    def category_row(self, n: int, label: str, nums: list[int | None]) -> None:
        if self.app is None:
            self.new_app(None, None, implicit=True)
        if self.cols is None:
            self.cols = {"pss": 0, "private_dirty": 1}
            self.p.add("category row before any column header; assumed Android 5+ column order "
                       "(Pss Total, Private Dirty, ...)", line=n)
        key = _MEMTRACK_ROWS[label]
        i, j = self.cols["pss"], self.cols["private_dirty"]
        if None in nums:
            names = self.col_names or []
            gone = [names[k] if k < len(names) else f"column {k + 1}" for k, v in enumerate(nums) if v is None]
            self.p.add(f"'{label}' row condensed by hand: {', '.join(gone)} elided ('...'); "
                       "the other columns are read", line=n)
        if i >= len(nums) or nums[i] is None:
            self.p.add(f"'{label}' row has no Pss Total column; skipped", line=n)
            return
        self.app[key] = nums[i] * KIB
        if j < len(nums) and nums[j] is not None:
            self.app["private_dirty"][key] = nums[j] * KIB

    # -- dispatch ---------------------------------------------------------------------------
    def line(self, n: int, raw: str, s: str) -> None:
        m = _APP_HEADER.match(raw)
        if m:
            self.new_app(int(m.group(1)), m.group(2))
            self.app_line = n
            self.section = None
            return
        if _TABLE_RULE.match(raw):
            self.header(n, raw)
            return
        m = _CAT_ROW.match(raw)
        if m:
            self.category_row(n, m.group(1), [int(x) if x.isdigit() else None for x in m.group(2).split()])
            return
        m = _SUMMARY.match(raw)
        if m:
            if self.app is None:
                self.new_app(None, None, implicit=True)
            key = "graphics_summary" if m.group(1) == "Graphics" else "private_other"
            self.app[key] = int(m.group(2)) * KIB
            return
        m = _SECTION.match(raw)
        if m:
            self.flush_app()
            self.section = (m.group(1).lower(), {"process": "process", "category": "category",
                                                 "OOM adjustment": "oom"}[m.group(2)])
            return
        m = _TAIL.match(raw)
        if m:
            self.flush_app()
            self.section = None
            self.tail(n, s, m)
            return
        m = _KLINE.match(raw)
        if m:
            self.kline(n, s, m)
            return
        # everything else of the per-app tables (Native Heap, Objects, SQL ...) and of the
        # system dump (Tuning:, process lists by OOM) is not needed: only the header lines of
        # the category table are remembered
        if self.app is not None or self.cols is None:
            self.header_lines.append(raw)
            self.header_lines = self.header_lines[-2:]

    def kline(self, n: int, s: str, m: re.Match) -> None:
        value = _kb(m.group(1))
        rest = m.group(2)
        if value is None:
            self.p.skip(n, s, "number not understood; skipped")
            return
        sec = self.section
        if sec is None:
            label = rest
            sm = _SWAP_TAIL.match(rest)
            if sm:
                label = sm.group("label")
            if label in _MEMTRACK_ROWS and "(pid " not in rest:
                self.records.append(CategoryTotal(label, "pss", value))
                if not self.headerless_cat_said:
                    self.headerless_cat_said = True
                    self.p.add("category lines without their 'Total PSS by category:' header "
                               "(excerpt?): read the memtrack ones as PSS", line=n)
                return
            self.p.skip(n, s, "'NNNK: label' line outside a known section; skipped")
            return
        kind, what = sec
        if what == "category":
            sm = _SWAP_TAIL.match(rest)
            label = sm.group("label") if sm else rest
            self.records.append(CategoryTotal(label, kind, value))
        elif what == "process":
            pm = _PROC_TAIL.match(rest)
            if not pm:
                self.p.skip(n, s, "process line without '(pid N)'; skipped")
                return
            swap = _kb(pm.group(3)) if pm.group(3) else None
            self.records.append(ProcessMem(int(pm.group("pid")), pm.group("name"), kind, value,
                                           swap))
        # OOM adjustment groups repeat the process lines under group totals: not read

    def tail(self, n: int, s: str, m: re.Match) -> None:
        key = _TAIL_KEYS[m.group("key")]
        total = _kb(m.group(2))
        if total is None:
            self.p.skip(n, s, "number not understood; skipped")
            return
        rest = m.group("rest")
        parts: dict[str, int] = {}
        if key == "total_ram":
            pass   # "(status normal)": not a number
        elif key == "zram":
            zm = _ZRAM.match(rest)
            if zm:
                parts["in_swap"] = _kb(zm.group(1)) or 0
                if zm.group(2):
                    parts["total_swap"] = _kb(zm.group(2)) or 0
            elif rest:
                self.p.add("ZRAM details not understood; total kept", line=n, text=s)
        elif rest.startswith("(") and ")" in rest:
            inner = rest[1:rest.index(")")]
            for piece in inner.split("+"):
                pm = _PART.match(piece)
                v = _kb(pm.group(1)) if pm else None
                if pm is None or v is None:
                    self.p.add(f"part '{piece.strip()}' of {m.group('key')} not understood; "
                               "skipped", line=n, text=s)
                    continue
                parts[pm.group(2).strip().replace(" ", "_")] = v
        elif rest:
            self.p.add(f"text after the {m.group('key')} total not understood; total kept",
                       line=n, text=s)
        self.records.append(SystemLine(key, total, parts))
