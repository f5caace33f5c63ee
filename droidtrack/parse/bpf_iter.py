"""The BPF dma-buf iterator's text: the pinned `iter/dmabuf` program (Linux 6.16+; AOSP pins it at
/sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf and requires it on 6.18+ kernels).

Reading the pinned file runs the program once over every dma-buf the kernel has and prints four
lines per buffer:

    <inode>\\n        decimal, the buffer's file inode (what fdinfo `ino:`, maps and sysfs name)
    <size>\\n         decimal, bytes
    <name>\\n         DMA_BUF_SET_NAME's name (at most 31 bytes), empty when unnamed; AOSP's
                     program turns a newline in it into a space, so a name never spans lines
    <exporter>\\n     the exporter's name ("system", "udmabuf", "drm", ...); never empty on a
                     correct kernel (libdmabufinfo treats an empty one as a kernel bug)

Hostile input: a record cut by the end of the text keeps its inode and size when both lines
arrived whole (its exporter left unknown), and is dropped otherwise; a record whose inode or size
is not a number, or whose exporter line looks like a number, is skipped and the parser
resynchronises on the next four lines that read as a record (inode and size decimal, exporter
not). A record not followed by an inode line spans more than four lines (a name with a newline,
from a program that does not replace it): where only one end fits a name of at most 31 bytes
it is read so; otherwise its inode and size are kept, its name and exporter left unknown, never
taken from a wrong line, and lines a forged name could have spelled are not read as buffers. An empty exporter keeps the buffer with its exporter unknown. A repeated inode with the
same size is dropped; with another size both are kept (the builder says so). Every skip is a
Problem; nothing raises.
"""
from __future__ import annotations

from dataclasses import dataclass

from droidtrack.model.problems import ParseResult, Problem
from droidtrack.parse.grepout import record_builder

SOURCE = "dmabuf_iter"
PATH = "/sys/fs/bpf/dmabuf/prog_dmabufIter_iter_dmabuf"
MAX_DIGITS = 20          # 2**64 has 20 decimal digits
NAME_LEN = 31           # DMA_BUF_NAME_LEN less its NUL
MAX_NAME = 256           # DMA_BUF_NAME_LEN is 32; longer text is not a kernel's name field


@dataclass(frozen=True, slots=True)
class IterBuffer:
    inode: int
    size: int
    name: str | None         # None: unnamed (an empty line)
    exporter: str | None     # None: the line was empty or did not arrive
    line: int                # 1-based line of the inode


_mk = record_builder(IterBuffer)


@dataclass
class IterResult(ParseResult[IterBuffer]):
    total_bytes: int = 0
    skipped_lines: int = 0


def _dec(s: str) -> bool:
    return 0 < len(s) <= MAX_DIGITS and s.isdigit() and s.isascii()


def _starts_record(lines: list[str], i: int, n: int) -> bool:
    return (i + 3 < n and _dec(lines[i]) and _dec(lines[i + 1])
            and lines[i + 3] != "" and not _dec(lines[i + 3]))


def parse(text: str) -> IterResult:
    out = IterResult()
    if not text:
        return out
    lines = text.split("\n")
    whole = lines[-1] == ""          # the text ends with a newline: every line arrived whole
    if whole:
        lines.pop()
    n = len(lines)
    # fast path: a well-formed text (the usual case, 20,000 buffers on a large device)
    if whole and n % 4 == 0 and _fast(lines, out):
        return out
    probs = out.problems
    seen: dict[int, int] = {}
    i = 0
    while i < n:
        if i + 3 >= n:
            _tail(lines, i, n, whole, out, seen)
            break
        ino_t, size_t, name, exp = lines[i], lines[i + 1], lines[i + 2], lines[i + 3]
        if not (_dec(ino_t) and _dec(size_t)):
            j = i + 1
            while j < n and not _starts_record(lines, j, n):
                j += 1
            # (fewer than four lines after a slip are skipped with it: they cannot be told apart)
            probs.append(Problem(SOURCE, f"{j - i} lines do not read as inode, size, name, exporter: "
                                 "skipped" + (" to the next record" if j < n else " to the end"),
                                 line=i + 1, text=lines[i]))
            out.skipped_lines += j - i
            i = j
            continue
        if _dec(exp) or (i + 4 < n and not _dec(lines[i + 4])):
            i = _spanning(lines, i, n, out, seen)
            continue
        if len(name) > MAX_NAME:
            probs.append(Problem(SOURCE, f"name of {len(name)} characters (a kernel's has at most 31): "
                                 "shortened", line=i + 3, text=name))
            name = name[:MAX_NAME]
        if exp == "":
            probs.append(Problem(SOURCE, f"inode {ino_t}: empty exporter line (a kernel bug): exporter left "
                                 "unknown", line=i + 4))
        _add(out, seen, int(ino_t), int(size_t), name or None, exp or None, i + 1)
        i += 4
    return out


def _name_fits(pieces: list[str]) -> bool:
    text = "\n".join(pieces)
    # 31 bytes at most; an invalid byte arrives as a 4-character escape (\\xNN)
    return len(text) - 3 * text.count("\\x") <= NAME_LEN


def _spanning(lines: list[str], i: int, n: int, out: IterResult, seen: dict[int, int]) -> int:
    """The record at i (inode and size whole) is not followed by the next record's inode: it
    spans more than four lines, a name with newlines from a program that does not replace them.
    A name has at most 31 bytes, so the next record starts within reach: where exactly one place
    fits (the lines between the size and it are name pieces of at most 31 bytes, then a
    non-numeric exporter), the name and exporter are read from there; where none or several fit,
    the inode and size are kept with name and exporter unknown (never a guessed line), and
    parsing resumes past the reach of the name. Returns where to go on."""
    probs = out.problems
    ino, size = int(lines[i]), int(lines[i + 1])
    fits = []
    j = i + 5
    while j <= n and _name_fits(lines[i + 2:j - 1]):
        if j == n or _starts_record(lines, j, n):
            if lines[j - 1] and not _dec(lines[j - 1]):
                fits.append(j)
        j += 1
    if len(fits) == 1:
        j = fits[0]
        name = "\n".join(lines[i + 2:j - 1])
        probs.append(Problem(SOURCE, f"inode {ino}: its name holds a newline (the program does not replace "
                             "them): read as one name", line=i + 3, text=name))
        _add(out, seen, ino, size, name, lines[j - 1], i + 1)
        return j
    probs.append(Problem(SOURCE, f"inode {ino}: the record spans more than four lines (a name with a "
                         "newline?) and where it ends cannot be told: size kept, name and exporter unknown"
                         + (f"; {len(fits)} places fit, the lines up to the last are skipped" if fits else ""),
                         line=i + 1))
    _add(out, seen, ino, size, None, None, i + 1)
    j = max(fits) if fits else i + 2
    while j < n and not _starts_record(lines, j, n):
        j += 1
    out.skipped_lines += j - i - 2
    return j


def _fast(lines: list[str], out: IterResult) -> bool:
    inos, sizes, names, exps = lines[0::4], lines[1::4], lines[2::4], lines[3::4]
    j = "".join
    if not (j(inos).isdigit() and j(sizes).isdigit() and j(inos).isascii() and j(sizes).isascii()):
        return False
    for k in (inos, sizes):
        if not all(0 < len(s) <= MAX_DIGITS for s in k):
            return False
    if not all(exps) or any(len(s) > MAX_NAME for s in names) or any(e.isdigit() for e in exps):
        return False
    ino_i = list(map(int, inos))
    if len(set(ino_i)) != len(ino_i):
        return False
    mk = _mk
    size_i = list(map(int, sizes))
    out.records = [mk(a, s, nm or None, e, 4 * k + 1)
                   for k, (a, s, nm, e) in enumerate(zip(ino_i, size_i, names, exps))]
    out.total_bytes = sum(size_i)
    return True


def _add(out: IterResult, seen: dict[int, int], ino: int, size: int, name, exp, line: int) -> None:
    prev = seen.get(ino)
    if prev is not None and prev == size:
        out.problems.append(Problem(SOURCE, f"inode {ino} listed again with the same size: the repeat "
                                    "is dropped", line=line))
        return
    seen[ino] = size
    out.records.append(_mk(ino, size, name, exp, line))
    out.total_bytes += size


def _tail(lines: list[str], i: int, n: int, whole: bool, out: IterResult, seen: dict[int, int]) -> None:
    """Fewer than four lines left: the text was cut inside a record."""
    # lines[k] arrived whole unless it is the last one and the text did not end with a newline
    complete = n - i if whole else n - i - 1
    got = lines[i:n]
    if complete >= 2 and _dec(got[0]) and _dec(got[1]):
        name = got[2] if complete >= 3 else None
        out.problems.append(Problem(SOURCE, f"the text ends inside the record of inode {got[0]}: its "
                                    "size is kept, its exporter is unknown", line=i + 1))
        _add(out, seen, int(got[0]), int(got[1]), (name or None) if name is None or len(name) <= MAX_NAME
             else name[:MAX_NAME], None, i + 1)
        return
    out.skipped_lines += len(got)
    out.problems.append(Problem(SOURCE, f"the text ends inside a record ({len(got)} lines, inode and size "
                                "not both whole): left out", line=i + 1, text=got[0]))
