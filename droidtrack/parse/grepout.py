"""`grep -H` output: split "ROOT/dev/path:content" lines into (lineno, device path, content).

The collector reads most per-process and sysfs files with one `grep -H` (or `grep -r -H`) over
many files, so almost every section is a stream of lines prefixed with the file they came from.
`ROOT` is the collector's root prefix ("" on a device, a directory for an offline tree); it is
stripped exactly, by length, never by pattern.

Where a path ends: device paths under /proc and /sys contain no ':' (sysfs names may hold commas,
dashes and dots: "qcom,system", "system-uncached"), so a match line's path ends at the first ':'
after ROOT. `grep -A N` context lines use '-' instead of ':' and groups are separated by "--"
lines; since a path may itself contain '-', a context line is recognised as "the current group's
path followed by '-'" (a context line always follows a match line of the same file), never by
searching for the first '-'.

Lines that do not start with ROOT + "/" are not guessed at: they go to the caller's problem
list. The loop uses only str methods (no regex per line): 480,000 lines split in a fraction of
a second.
"""
from __future__ import annotations

from typing import Iterator

from droidtrack.model.problems import Problem


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def split_grep(text: str, root: str, context: bool = False,
               problems: list[Problem] | None = None, source: str = "grep", first_line: int = 1) -> Iterator[tuple]:
    """Yield (lineno, device_path, content) for each "ROOT/path:content" line (the text's first
    line is number `first_line`: for a text that is the rest of a longer one).

    With context=True (output of `grep -A`), yield (lineno, device_path, content, is_context):
    "PATH-content" lines that continue the current group are context lines, "--" separators
    end a group. Lines that cannot be attributed to a file are appended to `problems` (when
    given) and skipped.
    """
    prefix = root + "/"
    rlen = len(root)
    plen = len(prefix)
    cur = None          # context mode: "ROOT/path" of the current group's match line
    curlen = 0
    for i, line in enumerate(_lines(text), first_line):
        if not line.startswith(prefix):
            if context and line == "--":
                cur = None
                continue
            if problems is not None:
                problems.append(Problem(source, "line does not start with the collector's root path: skipped",
                                        line=i, text=line))
            continue
        if context:
            if cur is not None and line.startswith(cur) and len(line) > curlen:
                c = line[curlen]
                if c == "-":
                    yield i, cur[rlen:], line[curlen + 1:], True
                    continue
                if c == ":":
                    yield i, cur[rlen:], line[curlen + 1:], False
                    continue
            j = line.find(":", plen)
            if j < 0:
                if problems is not None:
                    problems.append(Problem(source, "no ':' after the file path: skipped", line=i, text=line))
                continue
            path = line[rlen:j]
            if path.startswith("/proc/") and "-" in path:
                # a /proc path never holds '-': this is a context line with no match line before it
                if problems is not None:
                    problems.append(Problem(source, "context line outside any match group: skipped",
                                            line=i, text=line))
                continue
            cur = line[:j]
            curlen = j
            yield i, path, line[j + 1:], False
        else:
            j = line.find(":", plen)
            if j < 0:
                if problems is not None:
                    problems.append(Problem(source, "no ':' after the file path: skipped", line=i, text=line))
                continue
            yield i, line[rlen:j], line[j + 1:]


def pid_of(path: str) -> int | None:
    """The pid in "/proc/<pid>/...", or None for any other path ("/proc/self/...", "/sys/...")."""
    if not path.startswith("/proc/"):
        return None
    k = path.find("/", 6)
    seg = path[6:] if k < 0 else path[6:k]
    if seg and len(seg) <= 20 and seg.isascii() and seg.isdigit():   # int() refuses >4300 digits
        return int(seg)
    return None


def proc_parts(path: str) -> tuple[int, str] | None:
    """("/proc/12/fdinfo/7") -> (12, "fdinfo/7"); None when the path is not under /proc/<pid>/."""
    if not path.startswith("/proc/"):
        return None
    k = path.find("/", 6)
    if k < 0:
        return None
    seg = path[6:k]
    if seg and len(seg) <= 20 and seg.isascii() and seg.isdigit():   # int() refuses >4300 digits
        return int(seg), path[k + 1:]
    return None


def is_decimal(s: str) -> bool:
    """ASCII digits only (str.isdigit() also accepts '²' and other Unicode digits)."""
    return bool(s) and s.isascii() and s.isdigit()


def to_base(s: str, base: int) -> int | None:
    """An unsigned integer in base 8 or 16 (as fdinfo flags or bufinfo columns print), else None."""
    s = s.strip()
    if not s or not s.isascii():
        return None
    try:
        return int(s, base) if s.isalnum() else None
    except ValueError:
        return None


def record_builder(cls):
    """A faster constructor for a frozen, slotted dataclass whose fields are all positional.

    A frozen dataclass's generated __init__ sets every field through object.__setattr__, which
    costs several microseconds for ten fields; parsers build tens of thousands of records per
    snapshot. The builder fills a plain class with the same slots (ordinary attribute stores) and
    then gives the object its real class: the result is an instance of `cls`, equal to and as
    frozen as `cls(*args)`. If the class does not allow this (no slots, __post_init__, another
    layout), `cls` itself is returned.
    """
    slots = getattr(cls, "__slots__", None)
    fields = getattr(cls, "__dataclass_fields__", None)
    if not isinstance(slots, tuple) or not fields or hasattr(cls, "__post_init__") \
            or tuple(fields) != slots or not all(n.isidentifier() for n in slots):
        return cls
    src = ("class _Shadow:\n    __slots__ = %r\n    def __init__(self, %s):\n" % (slots, ", ".join(slots))
           + "".join(f"        self.{n} = {n}\n" for n in slots)
           + "def build(%s):\n    o = _Shadow(%s)\n    o.__class__ = cls\n    return o\n"
           % (", ".join(slots), ", ".join(slots)))
    ns: dict = {"cls": cls}
    try:
        exec(src, ns)
        probe = tuple(range(len(slots)))
        made = ns["build"](*probe)
        if type(made) is not cls or made != cls(*probe):
            return cls
    except Exception:   # a layout Python refuses to reassign: the plain constructor is fine
        return cls
    return ns["build"]


class Ints(dict):
    """str -> int(str, base), remembered: the same few values (pos 0, flags, mnt_id, sizes, counts,
    pids) repeat over tens of thousands of files, and a dict hit is cheaper than int()."""

    def __init__(self, base: int = 10):
        super().__init__()
        self.base = base

    def __missing__(self, k: str) -> int:
        v = self[k] = int(k, self.base)
        return v
