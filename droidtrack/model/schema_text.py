"""The text of a `droidtrack.snapshot/1` document, written fast (model/schema.py decides what it says).

`schema.dumps` prints exactly `json.dumps(schema.to_dict(...), indent=2, ensure_ascii=True) + "\\n"`
without building the dict: json's indented encoder is its pure-Python one, which took 2 s for a
device with 20,000 buffers. The buffers (most of the text) are written from the model with one
template per buffer, holder and mapping (`buffers`); everything else goes through `encode`, json's
indented rules written as one recursive function, or `objects` for the flat process rows.
tests/test_schema_text.py holds this text and json.dumps to the same bytes for any snapshot.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _esc

from droidtrack.model import Buffer


# ---- json.dumps(indent=2, ensure_ascii=True), written out --------------------------------------
def _float(o: float) -> str:
    if o != o:
        return "NaN"
    if o == float("inf"):
        return "Infinity"
    if o == -float("inf"):
        return "-Infinity"
    return float.__repr__(o)


def _key(k) -> str:
    """A dict key as json.dumps writes it: a string as itself, a number, bool or None as the text
    of its value, quoted (none of those texts needs an escape)."""
    if isinstance(k, str):
        return _esc(k)
    if k is None or isinstance(k, (int, float)):      # bool is an int
        return '"' + encode(k, "") + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {k.__class__.__name__}")


def encode(o, nl: str) -> str:
    """`o` as json.dumps(o, indent=2, ensure_ascii=True) prints it when it starts on a line
    indented as `nl` ("\\n" + spaces) says: the same checks in the same order."""
    if isinstance(o, str):
        return _esc(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if isinstance(o, int):
        return int.__repr__(o)
    if isinstance(o, float):
        return _float(o)
    if isinstance(o, (list, tuple)):
        if not o:
            return "[]"
        inner = nl + "  "
        return "[" + inner + ("," + inner).join([encode(x, inner) for x in o]) + nl + "]"
    if isinstance(o, dict):
        if not o:
            return "{}"
        inner = nl + "  "
        return "{" + inner + ("," + inner).join([_key(k) + ": " + encode(v, inner) for k, v in o.items()]) \
            + nl + "}"
    # anything else: json's own answer (a TypeError for what it cannot encode)
    return json.dumps(o, indent=2, ensure_ascii=True).replace("\n", nl)


def _scalar(o, nl: str) -> str:
    """A value that is nearly always an int, a str or None."""
    t = type(o)
    if t is int:
        return int.__repr__(o)
    if t is str:
        return _esc(o)
    if o is None:
        return "null"
    return encode(o, nl)


# one buffer of the "buffers" list (its fields 6 spaces in), one holder (10) and one mapping (14)
_BUF = ('{\n      "key": %s,\n      "inode": %s,\n      "size": %s,\n      "exporter": %s,\n      "name": %s,'
        '\n      "count": %s,\n      "tag": %s,\n      "tag_rule": %s,\n      "attached": %s,\n      "holders": %s,'
        '\n      "sources": %s,\n      "provenance": %s,\n      "holders_known": %s,\n      "owner": %s\n    }')
_OWNER = ('{\n        "pid": %s,\n        "package": %s,\n        "name": %s,\n        "rule": %s,'
          '\n        "evidence": %s\n      }')
_BUFD = _BUF.replace('"inode": %s', '"inode": %d').replace('"size": %s', '"size": %d').replace(
    '"count": %s', '"count": %d')
_MAP = ('{\n              "start": %s,\n              "end": %s,\n              "offset": %s,'
        '\n              "perms": %s,\n              "rss": %s,\n              "pss": %s\n            }')
_MAPD = _MAP.replace("%s", "%d").replace('"perms": %d', '"perms": %s')
_NL6 = "\n      "
_NL8 = "\n        "
_NL10 = "\n          "
_NL12 = "\n            "
_NL14 = "\n              "


class _Keys(dict):
    """dict key -> its JSON text and ": "."""

    def __missing__(self, k) -> str:
        s = _key(k) + ": "
        if type(k) is str:
            self[k] = s
        return s


def objects(dicts: list[dict]) -> str:
    """A list of flat dicts (the processes) two levels in: encode's text, with the common values
    (ints, strings, None) told apart by their exact type first."""
    if not dicts:
        return "[]"
    keys = _Keys()
    scalar = _scalar
    sep = "," + _NL6
    return "[\n    " + ",\n    ".join([
        "{" + _NL6 + sep.join([keys[k] + scalar(v, _NL6) for k, v in d.items()]) + "\n    }" if d else "{}"
        for d in dicts]) + "\n  ]"


class _Strings(dict):
    """str (or None) -> its JSON text, remembered: exporters, names, tags and rules repeat."""

    def __missing__(self, v) -> str:
        if type(v) is str:
            s = self[v] = _esc(v)
            return s
        return _scalar(v, _NL6)       # not remembered: True == 1 would share an entry


def buffers(bufs: list[Buffer], owners: dict | None = None) -> str:
    """The "buffers" list as json.dumps prints it two levels in; `owners`: buffer key -> Owner."""
    if not bufs:
        return "[]"
    scalar = _scalar
    esc = _esc
    irepr = int.__repr__
    strings = _Strings()
    strings[None] = "null"
    tuples: dict[tuple, str] = {}       # a sources tuple -> JSON text
    dicts: dict[tuple, str] = {}        # provenance items -> JSON text
    holders_of = _holders
    memo: dict = {}
    pids: dict = {}
    out = []
    append = out.append
    for b in bufs:
        src = b.sources
        s = tuples.get(src) if type(src) is tuple else None
        if s is None:
            s = encode(list(src), _NL6)
            if type(src) is tuple and all(type(x) is str for x in src):
                tuples[src] = s
        prov = b.provenance
        if type(prov) is dict:
            key = tuple(prov.items())
            p = dicts.get(key)
            if p is None:
                p = encode(prov, _NL6)
                if all(type(k) is str and type(v) is str for k, v in key):
                    dicts[key] = p
        else:
            p = encode(dict(prov), _NL6)
        k = b.key
        ino = b.inode
        size = b.size
        count = b.count
        known = b.holders_known
        att = b.attached
        holders = b.holders
        o = owners.get(k) if owners else None
        if o is None:
            own = "null"
        else:
            pid = o.pid
            own = _OWNER % (irepr(pid) if type(pid) is int else scalar(pid, _NL8), strings[o.package],
                            strings[o.name], strings[o.rule], esc(o.evidence))
        if type(ino) is type(size) is type(count) is int and type(k) is str:
            append(_BUFD % (
                esc(k), ino, size, strings[b.exporter], strings[b.name], count, strings[b.tag], strings[b.tag_rule],
                encode(list(att), _NL6) if att else "[]",
                holders_of(holders, memo, pids) if holders else "{}",
                s, p,
                "true" if known is True else ("false" if known is False else encode(known, _NL6)), own))
            continue
        append(_BUF % (
            esc(k) if type(k) is str else scalar(k, _NL6),
            irepr(ino) if type(ino) is int else scalar(ino, _NL6),
            irepr(size) if type(size) is int else scalar(size, _NL6),
            strings[b.exporter], strings[b.name],
            irepr(count) if type(count) is int else scalar(count, _NL6),
            strings[b.tag], strings[b.tag_rule],
            encode(list(att), _NL6) if att else "[]",
            holders_of(holders, memo, pids) if holders else "{}",
            s, p,
            "true" if known is True else ("false" if known is False else encode(known, _NL6)), own))
    return "[\n    " + ",\n    ".join(out) + "\n  ]"


def _holders(holders: dict, memo: dict, pids: dict) -> str:
    """A buffer's "holders" object (sorted by pid), three levels in. memo: fd tuple of a holding
    by fds only -> its JSON text; pids: pid -> its key's text (both only for exact ints)."""
    items = []
    append = items.append
    for pid in sorted(holders) if len(holders) > 1 else holders:
        h = holders[pid]
        fds = h.fds
        if not h.maps and h.by is None and type(pid) is int and type(fds) is tuple and fds \
                and type(fds[0]) is int:
            body = memo.get(fds)
            if body is None:
                if any(type(f) is not int for f in fds):
                    append(_holder(pid, h))
                    continue
                body = memo[fds] = '{\n          "fds": ' + _ints(fds) + ',\n          "maps": []\n        }'
            pk = pids.get(pid)
            if pk is None:
                pk = pids[pid] = '"' + int.__repr__(pid) + '": '
            append(pk + body)
        else:
            append(_holder(pid, h))
    return "{" + _NL8 + ("," + _NL8).join(items) + _NL6 + "}"


def _holder(pid, h) -> str:
    """One holder: '"<pid>": {...}', three levels in."""
    fds, maps, by = h.fds, h.maps, h.by
    if not fds:
        f = "[]" if type(fds) is tuple else encode(list(fds), _NL10)
    elif type(fds) is tuple and all(type(x) is int for x in fds):
        f = _ints(fds)
    else:
        f = encode(list(fds), _NL10)
    if maps:
        ms = []
        for m in maps:
            st, en, off, perms, rss, pss = m.start, m.end, m.offset, m.perms, m.rss, m.pss
            if type(st) is type(en) is type(off) is type(rss) is type(pss) is int and type(perms) is str:
                ms.append(_MAPD % (st, en, off, _esc(perms), rss, pss))
            else:
                ms.append(_MAP % (_scalar(st, _NL14), _scalar(en, _NL14), _scalar(off, _NL14),
                                  _scalar(perms, _NL14), _scalar(rss, _NL14), _scalar(pss, _NL14)))
        mt = ms[0] if len(ms) == 1 else ("," + _NL12).join(ms)
        mt = "[" + _NL12 + mt + _NL10 + "]"
    else:
        mt = "[]"
    if by is None:
        body = '{\n          "fds": ' + f + ',\n          "maps": ' + mt + "\n        }"
    else:
        body = '{\n          "fds": ' + f + ',\n          "maps": ' + mt + ',\n          "by": ' \
            + encode(by, _NL10) + "\n        }"
    return ('"' + int.__repr__(pid) + '": ' if type(pid) is int else _esc(str(pid)) + ": ") + body


def _ints(fds: tuple) -> str:
    """A tuple of ints as the "fds" list, four levels in."""
    if not fds:
        return "[]"
    return "[" + _NL12 + ("," + _NL12).join(map(int.__repr__, fds)) + _NL10 + "]"
