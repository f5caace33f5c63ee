"""DMA-BUF sysfs statistics: /sys/kernel/dmabuf/buffers/<inode>/ (formats.md §4).

Files: `size` ("%zu\\n", bytes), `exporter_name` ("%s\\n"), `mmap_count` ("%d\\n", ACK 5.10) and,
in the first versions (5.13 / ACK 5.10), `attachments/<id>/map_counter` (the `device` symlink
is not read by grep -r). They arrive as `grep -r -H` lines inside the collector's `files`
section, mixed with other paths: `parse` takes the split_grep tuples of this subtree (the caller
demuxes the section once), `parse_text` does the split itself and ignores other paths.
Unknown attribute files are ignored (newer kernels may add some).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import compress
from typing import Iterable

from droidtrack.parse._lines import slow_paths, to_int
from droidtrack.parse.grepout import is_decimal, record_builder, split_grep
from droidtrack.model.problems import ParseResult, Problem

SOURCE = "sysfs"
PREFIX = "/sys/kernel/dmabuf/buffers/"


@dataclass(frozen=True, slots=True)
class SysfsBuffer:
    inode: int
    size: int | None
    exporter: str | None
    mmap_count: int | None
    # early kernels: (attachment id, map_counter) per attachment
    attachments: tuple[tuple[int, int | None], ...] = ()
    line: int = 0


_mk = record_builder(SysfsBuffer)


def _int(content: str) -> int | None:
    if content.isdigit() and content.isascii() and len(content) <= 20:
        return int(content)
    return to_int(content, signed=True)


def parse(lines: Iterable[tuple]) -> ParseResult[SysfsBuffer]:
    """Buffers from split_grep tuples (lineno, path, content); paths outside buffers/ are ignored.

    Written for 20,000 buffers (60,000 lines): plain str checks, one list per buffer, no helper
    call for a plain decimal value.
    """
    out: ParseResult[SysfsBuffer] = ParseResult()
    probs = out.problems
    bufs: dict[int, list] = {}     # inode -> [line, size, exporter, mmap_count, {attachment: counter}]
    seen_files: set[str] = set()
    seen_add = seen_files.add
    plen = len(PREFIX)
    for t in lines:
        i, path, content = t[0], t[1], t[2]
        if not path.startswith(PREFIX):
            continue
        ino_txt, _, attr = path[plen:].partition("/")
        if not (ino_txt.isdigit() and ino_txt.isascii()) or len(ino_txt) > 20 or not attr:
            probs.append(Problem(SOURCE, "path is not buffers/<inode>/<file>: skipped", line=i, text=content,
                                 path=path))
            continue
        ino = int(ino_txt)
        b = bufs.get(ino)
        if b is None:
            b = bufs[ino] = [i, None, None, None, None]
        if path in seen_files:
            probs.append(Problem(SOURCE, "file has more than one line: the first is kept", line=i, text=content,
                                 path=path))
            continue
        seen_add(path)
        if attr == "size":
            v = _int(content)
            if v is None or v < 0:
                probs.append(Problem(SOURCE, "size is not a number: left unknown", line=i, text=content, path=path))
            b[1] = v
        elif attr == "exporter_name":
            b[2] = content
        elif attr == "mmap_count":
            v = _int(content)
            if v is None:
                probs.append(Problem(SOURCE, "mmap_count is not a number: left unknown", line=i, text=content,
                                     path=path))
            b[3] = v
        elif attr.startswith("attachments/") and attr.endswith("/map_counter"):
            aid = attr[len("attachments/"):-len("/map_counter")]
            if not is_decimal(aid) or len(aid) > 20:
                probs.append(Problem(SOURCE, "attachment id is not a number: skipped", line=i, path=path))
                continue
            if b[4] is None:
                b[4] = {}
            b[4][int(aid)] = to_int(content, signed=True)
    mk = _mk
    append = out.records.append
    for ino, b in bufs.items():
        att = b[4]
        append(mk(ino, b[1], b[2], b[3], tuple(sorted(att.items())) if att else (), b[0]))
    return out


def parse_text(text: str, root: str) -> ParseResult[SysfsBuffer]:
    """The whole `files` section (or any grep -r -H text): only the buffers/ subtree is read."""
    probs: list[Problem] = []
    res = parse(split_grep(text, root, problems=probs, source=SOURCE))
    res.problems[:0] = probs
    return res


# ---- one record type for the feeder: columns, whichever path read them -------------------------
@dataclass
class SysfsTable:
    """The buffers' inode, size and exporter, one list per field, in the order `parse` gives its
    records: what `block` reads in one pass and what `table` makes of `parse`'s records."""
    inodes: list[int]
    sizes: list[int | None]
    exporters: list[str | None]
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.inodes)


def table(res: ParseResult[SysfsBuffer]) -> SysfsTable:
    recs = res.records
    return SysfsTable([r.inode for r in recs], [r.size for r in recs], [r.exporter for r in recs], res.problems)


def read_lines(lines: Iterable[tuple]) -> SysfsTable:
    """`parse`'s records of split_grep tuples, as the feeder reads them."""
    return table(parse(lines))


_block_cache: dict[str, re.Pattern] = {}


def _block_re(root: str) -> re.Pattern:
    pat = _block_cache.get(root)
    if pat is None:
        pat = re.compile(re.escape(root + PREFIX) + r"(0|[1-9][0-9]{0,19})/(?:size:([0-9]{1,20})"
                         r"|exporter_name:([^\n]*)|(mmap_count):[0-9]{1,20})\n")
        if len(_block_cache) > 64:
            _block_cache.clear()
        _block_cache[root] = pat
    return pat


def block(text: str, root: str) -> tuple[int, int, SysfsTable] | None:
    """The fast path over the whole `files` section, without a tuple per line: where every line of
    the buffers/ subtree stands in one run of whole lines and is a `size` (digits), `exporter_name`
    or `mmap_count` (digits) line of a canonically numbered inode, no file twice (so `parse` has
    nothing to say about them): (start, end, table), the run being text[start:end]. None otherwise
    (also when the text has no such line, and always under DROIDTRACK_SLOW_PATHS=1): then
    split_grep and `parse` read them."""
    if slow_paths():
        return None
    prefix = root + PREFIX
    start = text.find(prefix)
    if start < 0 or (start and text[start - 1] != "\n"):
        return None          # none, or the first one is not at a line's start
    last = text.rfind("\n" + prefix)
    end = text.find("\n", last + 1 if last >= start else start)
    if end < 0:
        return None          # the last line has no newline
    end += 1
    parts = _block_re(root).split(text[start:end])
    if any(parts[::5]):
        return None          # a line of another shape (another attribute file, odd values)
    inos, sizes, exps, mm = parts[1::5], parts[2::5], parts[3::5], parts[4::5]
    sz = dict(zip(compress(inos, sizes), filter(None, sizes)))
    has = [e is not None for e in exps]
    ex = dict(zip(compress(inos, has), compress(exps, has)))
    nmm = len(mm) - mm.count(None)
    if len(sz) != len(sizes) - sizes.count(None) or len(ex) != has.count(True) \
            or (nmm and len(set(compress(inos, mm))) != nmm):
        return None          # a file with more than one line
    order = list(dict.fromkeys(inos))
    get = sz.get
    return start, end, SysfsTable(list(map(int, order)), [None if (v := get(i)) is None else int(v) for i in order],
                                  list(map(ex.get, order)))
