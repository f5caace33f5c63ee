"""DMA-BUF sysfs statistics: /sys/kernel/dmabuf/buffers/<inode>/ (formats.md §4).

Files: `size` ("%zu\\n", bytes), `exporter_name` ("%s\\n"), `mmap_count` ("%d\\n", ACK 5.10) and,
in the first versions (5.13 / ACK 5.10), `attachments/<id>/map_counter` (the `device` symlink
is not read by grep -r). They arrive as `grep -r -H` lines inside the collector's `files`
section, mixed with other paths: `parse` takes the split_grep tuples of this subtree (the caller
demuxes the section once), `parse_text` does the split itself and ignores other paths.
Unknown attribute files are ignored (newer kernels may add some).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from droidtrack.parse.grepout import is_decimal, split_grep, to_int
from droidtrack.problems import ParseResult, Problem

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


def parse(lines: Iterable[tuple]) -> ParseResult[SysfsBuffer]:
    out: ParseResult[SysfsBuffer] = ParseResult()
    probs = out.problems
    bufs: dict[int, dict] = {}
    seen_files: set[str] = set()
    for t in lines:
        i, path, content = t[0], t[1], t[2]
        if not path.startswith(PREFIX):
            continue
        rest = path[len(PREFIX):]
        ino_txt, _, attr = rest.partition("/")
        if not is_decimal(ino_txt) or len(ino_txt) > 20 or not attr:
            probs.append(Problem(SOURCE, "path is not buffers/<inode>/<file>: skipped", line=i, text=content,
                                 path=path))
            continue
        ino = int(ino_txt)
        b = bufs.get(ino)
        if b is None:
            b = bufs[ino] = {"line": i, "att": {}}
        if path in seen_files:
            probs.append(Problem(SOURCE, "file has more than one line: the first is kept", line=i, text=content,
                                 path=path))
            continue
        seen_files.add(path)
        if attr == "size":
            v = to_int(content)
            if v is None or v < 0:
                probs.append(Problem(SOURCE, "size is not a number: left unknown", line=i, text=content, path=path))
            b["size"] = v
        elif attr == "exporter_name":
            b["exporter"] = content
        elif attr == "mmap_count":
            v = to_int(content)
            if v is None:
                probs.append(Problem(SOURCE, "mmap_count is not a number: left unknown", line=i, text=content,
                                     path=path))
            b["mmap_count"] = v
        elif attr.startswith("attachments/") and attr.endswith("/map_counter"):
            aid = attr[len("attachments/"):-len("/map_counter")]
            if not is_decimal(aid) or len(aid) > 20:
                probs.append(Problem(SOURCE, "attachment id is not a number: skipped", line=i, path=path))
                continue
            b["att"][int(aid)] = to_int(content)
    for ino, b in bufs.items():
        out.records.append(SysfsBuffer(ino, b.get("size"), b.get("exporter"), b.get("mmap_count"),
                                       tuple(sorted(b["att"].items())), b["line"]))
    return out


def parse_text(text: str, root: str) -> ParseResult[SysfsBuffer]:
    """The whole `files` section (or any grep -r -H text): only the buffers/ subtree is read."""
    probs: list[Problem] = []
    res = parse(split_grep(text, root, problems=probs, source=SOURCE))
    res.problems[:0] = probs
    return res
