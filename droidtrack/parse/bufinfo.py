"""debugfs `dma_buf/bufinfo` (formats.md §1): every dma-buf the kernel has, no pids.

Accepted, in one parser:
- every kernel layout: ≤5.2 (size/flags/mode/count/exp_name; 4.12+ adds fence lines), 5.3–5.18
  (+ ino and name; an empty name leaves a trailing TAB), 5.19+ (name column in the header, `<none>`
  for no name), ACK/QCOM backports of the 5.3 rows, vendor extra columns named in the header;
- every fence-line spelling of §1.3 (any indented line holding "fence:") and the kernel's
  "\tERROR locking buffer object: skipping" (the buffer is left out by the kernel itself);
- pasted copies: tabs expanded to runs of spaces, console prompts or other lines before the
  table, a missing header (rows only), a missing "Total" line (text cut).

Names: a name may hold tabs (it is the rest of the row after the inode column, so tabs are kept)
and newlines. The kernel prints a row, then optional fence lines, then "\tAttached Devices:", so
a line right after a row that is none of those is the rest of a name holding a newline — but
only while the name stays within the kernel's 31-byte limit (DMA_BUF_NAME_LEN); the line is then
appended with "\n" and a problem says so. Anything else is reported as an unrecognized line; it
never starts a new buffer. A real row is at least 36 characters wide (four zero-padded %08
columns), so a 31-byte name cannot forge one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import repeat

from droidtrack.parse._lines import NAME_MAX, name_bytes, slow_paths, to_int
from droidtrack.parse.grepout import is_decimal, record_builder, to_base
from droidtrack.model.problems import ParseResult, Problem

SOURCE = "bufinfo"
STD_COLS = ("size", "flags", "mode", "count", "exp_name", "ino", "name")

_TOTAL_OBJ = re.compile(r"\s*Total\s+(-?\d+)\s+objects,\s*(\d+)\s+bytes\s*$")
_TOTAL_DEV = re.compile(r"\s*Total\s+(-?\d+)\s+devices\s+attached\s*$")
# One buffer block exactly as the kernel prints it with real tabs and no fences: the row
# (5, 6 or 7 columns), "\tAttached Devices:", the device lines, "Total N devices attached", and
# the empty lines after it (which change nothing between blocks).
_BLOCK = re.compile(
    r"(?P<size>[0-9]{8,20})\t(?P<flags>[0-9a-f]{8,16})\t(?P<mode>[0-9a-f]{8,16})\t(?P<count>[0-9]{8,20})\t"
    r"(?P<exp>[^\t\n]*)(?:\t(?P<ino>[0-9]{1,20})(?:\t(?P<name>[^\n]*))?)?\n"
    r"\tAttached Devices:\n(?P<dev>(?:\t[^\n]*\n)*)Total (?P<ndev>[0-9]{1,9}) devices attached\n\n*")


@dataclass(frozen=True, slots=True)
class BufinfoBuffer:
    size: int
    flags: int | None
    mode: int | None
    count: int | None
    exporter: str
    inode: int | None
    name: str | None          # None when unnamed ("" or "<none>")
    attached: tuple[str, ...]
    line: int
    extra: tuple[tuple[str, str], ...] = ()   # vendor columns the header names: (column, value)


@dataclass
class BufinfoResult(ParseResult[BufinfoBuffer]):
    total_objects: int | None = None
    total_bytes: int | None = None
    # "≤5.2" (no inode column, no fence line seen), "4.12-5.2" (fence lines, no inode),
    # "5.3-5.18", "5.19+", "5.3+" (rows with inodes but nothing telling the two apart),
    # "pasted-spaces" (tabs were expanded: see `family` for the kernel layout), "unknown"
    variant: str = "unknown"
    family: str = "unknown"   # the kernel layout, also when variant is "pasted-spaces"
    skipped_locked: int = 0   # buffers the kernel left out ("ERROR locking buffer object")


_mk = record_builder(BufinfoBuffer)



def _is_header(tokens: list[str]) -> bool:
    return tokens[:5] == ["size", "flags", "mode", "count", "exp_name"]


def _num8(s: str, base: int) -> int | None:
    """A kernel %08 column: at least 8 characters, all digits of the base."""
    if len(s) < 8:
        return None
    if base == 10:
        if s[:1] == "-":
            return to_int(s, signed=True)
        return to_int(s) if is_decimal(s) else None
    return to_base(s, base)


class _Pending:
    __slots__ = ("size", "flags", "mode", "count", "exporter", "inode", "name", "attached", "line",
                 "extra", "ndev", "closed", "spaces")

    def __init__(self, size, flags, mode, count, exporter, inode, name, line, extra):
        self.size, self.flags, self.mode, self.count = size, flags, mode, count
        self.exporter, self.inode, self.name, self.line, self.extra = exporter, inode, name, line, extra
        self.attached: list[str] = []
        self.ndev: int | None = None
        self.closed = False
        self.spaces = False

    def freeze(self) -> BufinfoBuffer:
        name = self.name
        if name == "" or name == "<none>":
            name = None
        return BufinfoBuffer(self.size, self.flags, self.mode, self.count, self.exporter, self.inode,
                             name, tuple(self.attached), self.line, tuple(self.extra))


def _split_row(line: str, cols: list[str] | None, spaces: bool):
    """Fields of a row as a dict (column -> raw text), or None if the line is not a row."""
    if not line[:1].isdigit() and line[:1] != "-":
        return None
    std = cols is None or tuple(cols) == STD_COLS[:len(cols)]
    if std:
        parts = line.split(None, 6) if spaces else line.split("\t", 6)
    else:
        n = len(cols)
        if "ino" in cols and "name" not in cols:
            n += 1   # 5.3-5.18 rows print the name after the inode with no header for it
        parts = line.split(None, n - 1) if spaces else line.split("\t", n - 1)
    if len(parts) < 5:
        return None
    size = _num8(parts[0], 10)
    flags = _num8(parts[1], 16)
    mode = _num8(parts[2], 16)
    count = _num8(parts[3].strip(), 10)
    if size is None or size < 0 or flags is None or mode is None or count is None:
        return None
    if std:
        names = STD_COLS
    else:
        names = list(cols)
        if "ino" in cols and "name" not in cols:
            names.append("name")
    if std and not spaces and len(parts) >= 6 and not is_decimal(parts[5]):
        parts = _exporter_with_tabs(line, cols)
        if parts is None:
            return None
    row = {}
    for k, v in zip(names, parts):
        row[k] = v
    row["_size"], row["_flags"], row["_mode"], row["_count"] = size, flags, mode, count
    if std and len(parts) == 6 and not is_decimal(parts[5].strip()):
        return None
    return row


def _exporter_with_tabs(line: str, cols: list[str] | None) -> list[str] | None:
    """A row whose exporter name holds a tab (exp_name is any string a driver chose): the columns
    with the exporter rejoined. Where the layout has no inode column the exporter is the rest of
    the row; otherwise the inode is the first later column that is one (the kernel prints it with
    %08lu: at least 8 decimal digits) and the name is the rest after it. None when no column can be
    the inode (then the line is no row the kernel printed)."""
    parts = line.split("\t")
    if cols is not None and "ino" not in cols:
        return parts[:4] + ["\t".join(parts[4:])]
    for k in range(6, len(parts)):
        if len(parts[k]) >= 8 and is_decimal(parts[k]):
            return parts[:4] + ["\t".join(parts[4:k]), parts[k]] + (["\t".join(parts[k + 1:])]
                                                                   if k + 1 < len(parts) else [])
    return None


def parse(text: str, *, fast: bool | None = None) -> BufinfoResult:
    """Read a bufinfo text. A buffer block in the kernel's exact shape (real tabs, no fence lines,
    devices listed as many as counted) that starts where a new row is expected is read with one
    regular-expression match; everything else goes line by line (`fast=False`: every line),
    with the same records, problems and variant."""
    if fast is None:
        fast = not slow_paths()
    out = BufinfoResult()
    probs = out.problems
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    crlf = bool(lines) and all(ln.endswith("\r") for ln in lines)
    if crlf:
        lines = [ln[:-1] if ln.endswith("\r") else ln for ln in lines]

    cols: list[str] | None = None
    header_cols: list[str] | None = None
    state = "pre"          # pre | row | cont | fences | attached | between | done
    cur: _Pending | None = None
    pending: list[_Pending] = []
    spaces_rows = 0
    fences = 0
    pre_noise = 0
    after_total: list[int] = []
    saw_table = False
    saw_trailing_tab = False
    saw_none = False
    saw_ino = False
    saw_noino = False

    def close(p: _Pending | None, lineno: int) -> None:
        if p is None or p.closed:
            return
        p.closed = True
        if p.ndev is not None and p.ndev != len(p.attached):
            probs.append(Problem(SOURCE, f"buffer says {p.ndev} devices attached but lists {len(p.attached)}",
                                 line=p.line))

    block = _BLOCK.match if fast and not crlf else None
    std = True             # the header's columns read as the standard ones (or no header yet)
    mk = _mk
    nlines = len(lines)
    idx = 0
    pos = 0                # offset of lines[idx] in text (only used when not crlf)
    while idx < nlines:
        if block is not None and std and (state == "between" or state == "pre"):
            m = block(text, pos)
            if m is not None:
                size, flags, mode, count, exporter, ino, name, dev, ndev = m.groups()
                devs = dev.split("\n")[:-1] if dev else ()
                if int(ndev) == len(devs):
                    saw_table = True
                    if ino is None:
                        saw_noino = True
                    else:
                        saw_ino = True
                        ino = int(ino)
                    if name is not None:
                        if name == "":
                            saw_trailing_tab = True
                            name = None
                        elif name == "<none>":
                            saw_none = True
                            name = None
                    pending.append(mk(int(size), int(flags, 16), int(mode, 16), int(count), exporter, ino, name,
                                      tuple([d[1:] for d in devs]) if devs else (), idx + 1, ()))
                    cur = None
                    state = "between"
                    end = m.end()
                    idx += text.count("\n", pos, end)
                    pos = end
                    continue
        line = lines[idx]
        idx += 1
        i = idx
        pos += len(line) + 1
        if state == "done":
            if line.strip():
                after_total.append(i)
            continue
        stripped = line.strip()
        indented = line[:1] in ("\t", " ")

        # a name holding a newline continues right after its row, before any fence/attached line
        # (only rows with a name column, read with real tabs: pasted rows lost that information)
        if state in ("row", "cont") and cur is not None and cur.name is not None and not cur.spaces:
            is_known = (indented and ("fence" in line or stripped == "Attached Devices:"
                                      or stripped.startswith("ERROR locking buffer object")))
            is_row = _split_row(line, cols, "\t" not in line) is not None
            if not is_known and not is_row:
                candidate = (cur.name or "") + "\n" + line
                if name_bytes(candidate) <= NAME_MAX:
                    cur.name = candidate
                    state = "cont"
                    probs.append(Problem(SOURCE, "a buffer name continues on the next line (a name holding a "
                                         "newline): joined with \\n", line=i, text=line))
                else:
                    probs.append(Problem(SOURCE, "unrecognized line after a buffer row (a name with a newline, "
                                         "or corrupted text): skipped", line=i, text=line))
                    state = "fences"
                continue

        if state == "attached" and indented and cur is not None:
            # every indented line of the block is a device name, whatever it says
            cur.attached.append(line[1:] if line.startswith("\t") else stripped)
            continue
        if not stripped:
            continue
        if stripped == "Dma-buf Objects:":
            continue
        tokens = stripped.split()
        if _is_header(tokens):
            if state == "pre" and not saw_table:
                header_cols = cols = tokens
                std = tuple(cols) == STD_COLS[:len(cols)]
                saw_table = True
                if cols[len(STD_COLS):] or tuple(cols) != STD_COLS[:len(cols)]:
                    probs.append(Problem(SOURCE, "header has columns droidtrack does not know: kept as extra",
                                         line=i, text=line))
            else:
                probs.append(Problem(SOURCE, "a second table header before the first table ended: ignored",
                                     line=i, text=line))
            continue
        m = _TOTAL_OBJ.match(line)
        if m:
            close(cur, i)
            out.total_objects = to_int(m.group(1), signed=True)
            out.total_bytes = to_int(m.group(2))
            state = "done"
            continue
        if stripped.startswith("ERROR locking buffer object"):
            close(cur, i)
            cur = None
            out.skipped_locked += 1
            probs.append(Problem(SOURCE, "the kernel skipped a buffer it could not lock: that buffer is missing",
                                 line=i, text=line))
            state = "between" if state != "pre" else state
            continue
        if indented and ("fence:" in line or stripped == "Fences concurrently modified"):
            if state in ("row", "cont", "fences") and cur is not None:
                fences += 1
                state = "fences"
            else:
                probs.append(Problem(SOURCE, "fence line outside a buffer block: skipped", line=i, text=line))
            continue
        if indented and stripped == "Attached Devices:":
            if cur is not None and state in ("row", "cont", "fences"):
                state = "attached"
            else:
                probs.append(Problem(SOURCE, "'Attached Devices:' outside a buffer block: skipped", line=i))
            continue
        m = _TOTAL_DEV.match(line)
        if m:
            if cur is not None and state in ("attached", "row", "cont", "fences"):
                cur.ndev = to_int(m.group(1), signed=True)
                close(cur, i)
                state = "between"
            else:
                probs.append(Problem(SOURCE, "'Total N devices attached' outside a buffer block: skipped",
                                     line=i, text=line))
            continue
        spaces = "\t" not in line
        row = _split_row(line, cols, spaces)
        if row is not None:
            if state == "attached" and cur is not None:
                probs.append(Problem(SOURCE, "buffer block has no 'Total N devices attached' line",
                                     line=cur.line))
            close(cur, i)
            saw_table = True
            if spaces:
                spaces_rows += 1
            ino_raw = row.get("ino")
            inode = None
            if ino_raw is not None:
                inode = to_int(ino_raw) if is_decimal(ino_raw.strip()) else None
                if inode is None:
                    probs.append(Problem(SOURCE, "inode column is not a number: inode left unknown",
                                         line=i, text=line))
            name = row.get("name")
            if spaces and name is None and inode is not None and line[-1:].isspace():
                saw_trailing_tab = True   # an empty name's trailing TAB, expanded to spaces
            if name is not None:
                if spaces:
                    name = name.strip()
                if name == "" and not spaces:
                    saw_trailing_tab = True
                if name == "<none>":
                    saw_none = True
            if inode is not None:
                saw_ino = True
            elif ino_raw is None:
                saw_noino = True
            exporter = row.get("exp_name", "")
            exporter = exporter.strip() if spaces else exporter
            extra = [(k, v.strip()) for k, v in row.items() if k not in STD_COLS and not k.startswith("_")]
            cur = _Pending(row["_size"], row["_flags"], row["_mode"], row["_count"], exporter, inode, name, i,
                           extra)
            cur.spaces = spaces
            pending.append(cur)
            state = "row"
            continue
        if state == "pre":
            pre_noise += 1
            continue
        probs.append(Problem(SOURCE, "unrecognized line: skipped", line=i, text=line))

    close(cur, len(lines))
    out.records = [p.freeze() if type(p) is _Pending else p for p in pending]

    if not saw_table:
        probs.append(Problem(SOURCE, "no bufinfo table found (no header and no buffer rows)"))
    elif pre_noise:
        probs.append(Problem(SOURCE, f"{pre_noise} line(s) before the table were ignored (console text?)"))
    if after_total:
        probs.append(Problem(SOURCE, f"{len(after_total)} line(s) after the Total line were ignored",
                             line=after_total[0], text=lines[after_total[0] - 1]))
    if saw_table and out.total_objects is None:
        probs.append(Problem(SOURCE, f"no 'Total … objects' line: the text is cut; read {len(out.records)} "
                                     "buffer(s) before the cut"))
    if out.total_objects is not None and out.total_objects != len(out.records):
        probs.append(Problem(SOURCE, f"Total line says {out.total_objects} objects but {len(out.records)} "
                                     "buffer rows were read"))
    if out.total_bytes is not None:
        s = sum(b.size for b in out.records)
        if s != out.total_bytes:
            probs.append(Problem(SOURCE, f"Total line says {out.total_bytes} bytes but the rows add up to {s}"))

    # which kernel layout
    if header_cols is not None:
        if "name" in header_cols:
            fam = "5.19+"
        elif "ino" in header_cols:
            fam = "5.3-5.18"
        else:
            fam = "4.12-5.2" if fences else "≤5.2"
    elif saw_ino:
        fam = "5.19+" if saw_none else ("5.3-5.18" if saw_trailing_tab else "5.3+")
    elif saw_noino:
        fam = "4.12-5.2" if fences else "≤5.2"
    else:
        fam = "unknown"
    if header_cols is not None and "ino" not in header_cols and saw_ino:
        probs.append(Problem(SOURCE, "rows carry an inode column the header does not name (mixed text?)"))
    out.family = fam
    out.variant = "pasted-spaces" if spaces_rows else fam
    if spaces_rows:
        probs.append(Problem(SOURCE, "tabs were expanded to spaces (pasted text): names are read as the rest "
                                     "of the row and lose leading/trailing spaces"))
    return out


# ---- one record type for the feeder: columns, whichever path read them -------------------------
_HEAD = re.compile(r"\n*(?:Dma-buf Objects:\n\n*)?"
                   r"size {4}\tflags {3}\tmode {4}\tcount {3}\texp_name(\tino {5}(\tname)?)?\n")
_TAIL = re.compile(r"\n*Total ([0-9]{1,20}) objects, ([0-9]{1,20}) bytes\n*")


@dataclass
class BufinfoTable:
    """bufinfo's buffers, one list per field, in the order printed: what `read` gives, from its
    fast path (`rows`) or from `parse`'s records (`table`), the same either way."""
    sizes: list[int]
    counts: list[int | None]
    exporters: list[str]
    inodes: list[int | None]
    names: list[str | None]                 # None when unnamed ("" or "<none>")
    attached: list[tuple[str, ...]]
    total_bytes: int | None
    variant: str
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sizes)


def table(res: BufinfoResult) -> BufinfoTable:
    """`parse`'s records as columns."""
    recs = res.records
    return BufinfoTable([r.size for r in recs], [r.count for r in recs], [r.exporter for r in recs],
                        [r.inode for r in recs], [r.name for r in recs], [r.attached for r in recs],
                        res.total_bytes, res.variant, res.problems)


def read(text: str) -> BufinfoTable:
    """The one reader the feeders use: `rows` where the text is exactly the kernel's, else `parse`
    (always `parse` under DROIDTRACK_SLOW_PATHS=1, for the tests that compare the two)."""
    if not slow_paths():
        t = rows(text)
        if t is not None:
            return t
    return table(parse(text))


def _unnamed(n: str | None) -> str | None:
    return None if n == "" or n == "<none>" else n


def rows(text: str) -> BufinfoTable | None:
    """A text exactly as the kernel prints it (its header, every buffer block in the shape `parse`
    reads with one match, its Total line agreeing with the blocks, nothing else) read with one
    split, without BufinfoBuffer records; None for any other text (then `parse` is the reader).
    `parse` gives such a text the same buffers and no problem."""
    head = _HEAD.match(text)
    if head is None:
        return None
    parts = _BLOCK.split(text[head.end():])
    tail = _TAIL.fullmatch(parts[-1])
    if tail is None or any(parts[:-1:10]):
        return None                     # text before a block, between two, or after the Total line
    sizes = parts[1::10]
    n = len(sizes)
    inodes = parts[6::10]
    devices = parts[8::10]
    if int(tail.group(1)) != n or list(map(str.count, devices, repeat("\n", n))) != list(map(int, parts[9::10])):
        return None                     # a count that the text contradicts: parse says so
    if head.group(1) is None and inodes.count(None) != n:
        return None                     # inodes the header does not name
    sizes = list(map(int, sizes))
    total = int(tail.group(2))
    if total != sum(sizes):
        return None
    variant = "≤5.2" if head.group(1) is None else ("5.19+" if head.group(2) else "5.3-5.18")
    names = parts[7::10]
    if "" in names or "<none>" in names:
        names = list(map(_unnamed, names))
    return BufinfoTable(sizes, list(map(int, parts[4::10])), parts[5::10],
                        [None if i is None else int(i) for i in inodes], names,
                        [tuple([d[1:] for d in devs.split("\n")[:-1]]) if devs else () for devs in devices],
                        total, variant)
