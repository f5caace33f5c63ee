"""The dma-buf fdinfo files of a v2 collector stream, as `head` printed them (formats.md §2).

The collector reads `ROOT/proc/<pid>/fdinfo/<fd>` through a symbolic link whose name holds the
run's token (`link`, the stream's `proc=`), so each file comes after a line
"==> <link>/<pid>/fdinfo/<fd> <==" that no file content can spell (see parse/headout.py). This
gives the same records as `fdinfo.parse_grep` gives for v1's `grep -H` lines:

- a file exactly as the kernel prints it (pos, flags, mnt_id, [ino], [size, count, exp_name,
  [name]]) is read with one regular-expression match, over the whole text at once;
- every other file (a name holding a newline, fd locks, odd values) is read by
  `fdinfo.parse_file`, the same line rules `fdinfo.parse_grep` applies to v1's grep lines.

Record `line` numbers count the lines of this text (the header is a file's line).
"""
from __future__ import annotations

import re

from droidtrack.parse import fdinfo as _fdinfo
from droidtrack.parse.fdinfo import FdInfo, FdinfoTable, make_fdinfo, table
from droidtrack.parse.grepout import Ints
from droidtrack.model.problems import ParseResult, Problem
from droidtrack.parse._lines import slow_paths

SOURCE = "fdinfo"
_cache: dict[str, re.Pattern] = {}


def _fast(link: str) -> re.Pattern:
    pat = _cache.get(link)
    if pat is None:
        d = "[0-9]{1,4000}"
        hdr = re.escape("==> " + link)
        pat = re.compile(
            hdr + r"/(?P<pid>[0-9]{1,12})/fdinfo/(?P<fd>[0-9]{1,12}) <==\n"
            r"pos:\t(?P<pos>-?" + d + r")\n"
            r"flags:\t(?P<flags>[0-7]{1,30})\n"
            r"mnt_id:\t(?P<mnt>-?" + d + r")\n"
            r"(?:ino:\t(?P<ino>" + d + r")\n)?"
            r"(?:size:\t(?P<size>" + d + r")\n"
            r"count:\t(?P<count>-?" + d + r")\n"
            r"exp_name:\t(?P<exp>[^\n]*)\n"
            r"(?:name:\t(?P<name>[^\n]*)\n)?)?"
            # the file ends here: head's newline and the next header, a new run, or the end
            r"(?=\n" + hdr + r"/|" + hdr + r"\.e <==\n|\Z)")
        if len(_cache) > 64:
            _cache.clear()
        _cache[link] = pat
    return pat


def parse(text: str, link: str, root: str) -> ParseResult[FdInfo]:
    """One FdInfo per (pid, fd) file, in the order read (the odd files after the others)."""
    out: ParseResult[FdInfo] = ParseResult()
    probs = out.problems
    recs = out.records
    append = recs.append
    seen: set[tuple[int, int]] = set()
    dec = Ints()
    octal = Ints(8)
    mk = make_fdinfo
    gaps: list[tuple[int, str]] = []      # (line of its first line, text) the fast match left
    last = 0
    line = 1                              # the line number at `last`
    count = text.count
    for m in (_fast(link).finditer(text) if not slow_paths() else ()):
        pid, fd, ps, flags, mnt, ino, size, count_, exp, name = m.groups()
        if (name is not None and link in name) or (exp is not None and link in exp):
            continue    # a last line without its newline ran into the next run's header: odd
        start = m.start()
        if start > last:
            # (less head's newline before this header)
            gaps.append((line, text[last:start - 1] if text[start - 1] == "\n" else text[last:start]))
        line += count("\n", last, start)
        hdr_line = line
        last = m.end()
        line += count("\n", start, last)
        key = (dec[pid], dec[fd])
        if size is None:
            append(mk(key[0], key[1], None, None, None, None, None if ino is None else dec[ino],
                      octal[flags], dec[mnt], dec[ps], hdr_line))
        else:
            append(mk(key[0], key[1], dec[size], dec[count_], exp.strip(" \t"), name,
                      None if ino is None else dec[ino], octal[flags], dec[mnt], dec[ps], hdr_line))
    if last < len(text):
        gaps.append((line, text[last:]))
    odd = list(_odd_files(gaps, link, probs))
    if odd:
        # in the section's order, as if every file had been read line by line: which file of a
        # (pid, fd) comes first, and the order of the problems, do not depend on the path taken
        recs += odd
        recs.sort(key=_by_line)
        probs.sort(key=_problem_line)
    kept = []
    for rec in recs:
        key = (rec.pid, rec.fd)
        if key in seen:
            probs.append(Problem(SOURCE, "this fd's file appears twice in the section: the first is kept",
                                 line=rec.line, path=f"/proc/{rec.pid}/fdinfo/{rec.fd}"))
            continue
        seen.add(key)
        kept.append(rec)
    out.records = kept
    return out


def _by_line(r: FdInfo) -> int:
    return r.line


def _problem_line(p: Problem) -> int:
    return p.line or 0


def _odd_files(gaps: list[tuple[int, str]], link: str, probs: list[Problem]):
    """The files in the text the fast match left, each read by fdinfo.parse_file (the same rules
    as v1's grep lines), numbered by the line of its header in the section."""
    split = "\n==> " + link + "/"
    run = "==> " + link + ".e <=="
    for first, gap in gaps:
        if not gap:
            continue                      # head's newline between two files read fast
        if gap.startswith("==> " + link + "/"):
            gap = "\n" + gap
            first -= 1
        pieces = gap.split(split)
        stray = pieces[0].replace(run, "").strip("\n")
        if stray:
            probs.append(Problem(SOURCE, "text outside any fdinfo file: skipped", line=first, text=stray[:80]))
        line = first + pieces[0].count("\n") + 1
        for piece in pieces[1:]:
            here = line
            line += piece.count("\n") + 1
            path, sep, body = piece.partition(" <==\n")
            if body.endswith(run + "\n"):
                body = body[:-len(run) - 1]
            elif body.endswith(run):
                body = body[:-len(run)]
            if not sep or "\n" in path:
                probs.append(Problem(SOURCE, "a file header cut short: skipped", line=here, text=piece[:80]))
                continue
            if not body:
                continue                  # an empty file
            pid, _, rest = path.partition("/")
            fd = rest[7:] if rest.startswith("fdinfo/") else ""
            where = "/proc/" + path
            if not (pid.isdigit() and pid.isascii() and fd.isdigit() and fd.isascii()) or len(pid) > 12 \
                    or len(fd) > 12:
                probs.append(Problem(SOURCE, "path is not /proc/<pid>/fdinfo/<fd>: skipped", line=here,
                                     path=where))
                continue
            yield _fdinfo.parse_file(body, int(pid), int(fd), here, where, probs)


# ---- the pipeline's fast path: raw fields, no records ------------------------------------------
_rows_cache: dict[str, re.Pattern] = {}


def _rows_re(link: str) -> re.Pattern:
    pat = _rows_cache.get(link)
    if pat is None:
        hdr = re.escape("==> " + link)
        d = "[0-9]{1,4000}"
        pat = re.compile(
            # head's newline before the header (and a run's "<link>.e" header before that)
            "(?:" + hdr + r"\.e <==\n)?\n" + hdr + r"/(0|[1-9][0-9]{0,11})/fdinfo/(0|[1-9][0-9]{0,11}) <==\n"
            r"pos:\t-?" + d + r"\n"
            r"flags:\t[0-7]{1,30}\n"
            r"mnt_id:\t-?" + d + r"\n"
            # a dma-buf's fields only after an inode: a dma-buf without one is left to parse()
            r"(?:ino:\t(0|[1-9][0-9]{0,3999})\n"
            r"(?:size:\t(" + d + r")\n"
            r"count:\t(-?" + d + r")\n"
            r"exp_name:\t([^\n]*)\n"
            r"(?:name:\t([^\n]*)\n)?)?)?")
        if len(_rows_cache) > 64:
            _rows_cache.clear()
        _rows_cache[link] = pat
    return pat


ROW_FIELDS = 7    # pid, fd, ino, size, count, exp_name, name


def rows(text: str, link: str) -> list[str | None] | None:
    """The fields of every file, when every file is one `parse` reads with its regular expression
    and gives no problem for: a flat list, ROW_FIELDS strings per file in the order read (pid, fd,
    ino, size, count, exp_name, name; None for a field the file does not have). pid, fd and ino
    are canonical decimals: "ino:" + ino is the buffer's key, and equal strings are equal numbers.

    None when anything else is in the text (a file in another shape, a dma-buf without an inode,
    text outside the files, a file read twice, a header run into a line that had no newline):
    then `parse` is the reader. For the pipeline, which joins these fields without making FdInfo
    records; `parse` gives such a text's records the same values (exp_name stripped of spaces and
    tabs; name "" for an empty one)."""
    if slow_paths():
        return None
    if not text:
        return []
    hdr = "==> " + link
    # every header follows a newline, but the text's first (a run's "<link>.e"): a header glued
    # to a line without its newline would be read into that line by the expression
    if text.count(hdr) != text.count("\n" + hdr) + text.startswith(hdr):
        return None
    parts = _rows_re(link).split(text)
    step = ROW_FIELDS + 1
    if any(parts[::step]):           # text between two files, or after the last: not ours
        return None
    del parts[::step]
    n = len(parts) // ROW_FIELDS
    if len(set(zip(parts[::ROW_FIELDS], parts[1::ROW_FIELDS]))) != n:
        return None                  # a (pid, fd) read twice
    return parts


def read(text: str, link: str, root: str) -> FdinfoTable:
    """The v2 section as the feeder reads it: `rows` where every file is in the kernel's exact
    shape with an inode, else `parse`'s records; the same table either way."""
    flat = rows(text, link)
    if flat is None:
        return table(parse(text, link, root))
    n = ROW_FIELDS
    dec = Ints()
    dec[None] = None                      # a field the file does not have stays None
    num = dec.__getitem__
    strip = _Stripped()
    strip[None] = None
    unnamed = _Same()
    unnamed[""] = None
    return FdinfoTable(list(map(num, flat[::n])), list(map(num, flat[1::n])), list(map(num, flat[2::n])),
                       list(map(num, flat[3::n])), list(map(num, flat[4::n])),
                       list(map(strip.__getitem__, flat[5::n])), list(map(unnamed.__getitem__, flat[6::n])))


class _Same(dict):
    def __missing__(self, k):
        return k


class _Stripped(dict):
    """exp_name as `parse` keeps it (spaces and tabs around it stripped), per distinct value."""

    def __missing__(self, k: str) -> str:
        v = self[k] = k.strip(" \t")
        return v
