"""The checks of model/schema.py's from_dict without naming fields, for the documents that pass
them (issue 12 #5: a replayed sample of 20,000 buffers spent more in building the names of fields
it never showed than in checking them). Each function raises Slow at anything it does not take as
it is; schema._Reader's checked_* then read the item again and say what is wrong (or take what is
merely unusual), so what a document reads as, and every error, stay those of schema.py."""
from __future__ import annotations

from typing import Any

from droidtrack.model import Buffer, Holding, MapRef, Owner
from droidtrack.model.owners import RULES as OWNER_RULES

HOLDING_KINDS = ("fd", "map", "fd+map", "unknown")

class Slow(Exception):
    pass


def _nat(v: Any) -> Any:
    """None or an integer >= 0 (not a bool)."""
    if v is None or (type(v) is int and v >= 0):
        return v
    raise Slow


def _opt_text(v: Any) -> Any:
    if v is None or type(v) is str:
        return v
    raise Slow


def _strs(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if type(v) is not list:
        raise Slow
    for x in v:
        if type(x) is not str:
            raise Slow
    return tuple(v)


def _fast_holding(h: Any) -> Holding:
    if type(h) is not dict:
        raise Slow
    fds, maps, by = h.get("fds"), h.get("maps"), h.get("by")
    if fds is None:
        fds = ()
    elif type(fds) is list:
        for x in fds:
            if type(x) is not int or x < 0:
                raise Slow
    else:
        raise Slow
    if maps:
        if type(maps) is not list:
            raise Slow
        refs = []
        for m in maps:
            if type(m) is not dict:
                raise Slow
            start, end, offset, perms = m.get("start"), m.get("end"), m.get("offset", 0), m.get("perms", "")
            if type(start) is not int or start < 0 or type(end) is not int or end < start \
                    or type(offset) is not int or offset < 0 or type(perms) is not str:
                raise Slow
            refs.append(MapRef(start, end, offset, perms, _nat(m.get("rss")), _nat(m.get("pss"))))
        maps = tuple(refs)
    elif maps is None or type(maps) is list:
        maps = ()
    else:
        raise Slow
    if by is not None and by not in HOLDING_KINDS:
        raise Slow
    return Holding(tuple(fds), maps, by)


def fast_buffer(b: Any) -> Buffer:
    if type(b) is not dict:
        raise Slow
    key, size, hs, prov = b.get("key"), b.get("size"), b.get("holders"), b.get("provenance")
    if type(key) is not str or type(size) is not int or size < 0:
        raise Slow
    holders = {}
    if hs is not None:
        if type(hs) is not dict:
            raise Slow
        for pid, h in hs.items():
            if type(pid) is not str or not (pid.isascii() and pid.isdigit()):
                raise Slow
            holders[int(pid)] = _fast_holding(h)
    if prov is None:
        prov = {}
    elif type(prov) is dict:
        for v in prov.values():
            if type(v) is not str:
                raise Slow
        prov = dict(prov)
    else:
        raise Slow
    tag, tag_rule, known = b.get("tag", "other"), b.get("tag_rule", ""), b.get("holders_known", True)
    if type(tag) is not str or type(tag_rule) is not str or type(known) is not bool:
        raise Slow
    return Buffer(key=key, size=size, inode=_nat(b.get("inode")), exporter=_opt_text(b.get("exporter")),
                  name=_opt_text(b.get("name")), count=_nat(b.get("count")), attached=_strs(b.get("attached")),
                  holders=holders, tag=tag, tag_rule=tag_rule, sources=_strs(b.get("sources")),
                  provenance=prov, holders_known=known)


def fast_owner(o: Any) -> Owner | None:
    if o is None:
        return None
    if type(o) is not dict:
        raise Slow
    rule, name, evidence = o.get("rule"), o.get("name", ""), o.get("evidence", "")
    if type(rule) is not str or rule not in OWNER_RULES or type(name) is not str or type(evidence) is not str:
        raise Slow
    return Owner(_nat(o.get("pid")), _opt_text(o.get("package")), name, rule, evidence)
