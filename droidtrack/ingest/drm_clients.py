"""Feed the DRM clients' fdinfo (GPU memory per process, parse/drm_fdinfo.py) into the processes'
`reported` keys: gpu.drm.total, .shared, .private, .resident, .purgeable, .active, .clients.

The collector hands head the fdinfo of every fd whose link is a DRM device (`/dev/dri/…`) along
with the dma-buf ones, in the same `procfiles` section; the dma-buf feeder skips files that are
no dma-buf's, this one reads the files that name a `drm-driver`. A client seen through several
fds (dup, fork, SCM_RIGHTS) counts once per process; memory the client shares (PRIME-exported or
imported objects: dma-bufs, counted as buffers) is left out of gpu.drm.private.
"""
from __future__ import annotations

from droidtrack.collect import frames as _frames
from droidtrack.model import SourceStatus
from droidtrack.model.build import Builder
from droidtrack.parse import drm_fdinfo
from droidtrack.parse.headout import split_heads

SOURCE = "drm_fdinfo"


def feed(b: Builder, fr: _frames.Frames) -> None:
    sec = fr.sections.get("fdinfo")
    if sec is None or sec.form != "head" or b"drm-driver:" not in sec.content or not fr.proc:
        return          # no DRM client (the usual cost: one substring search)
    files, _problems = split_heads(sec.content, fr.proc.encode())   # (the dma-buf feeder reports those)
    clients: list[tuple[int, drm_fdinfo.DrmClient]] = []
    for path, body in files:
        if b"drm-driver:" not in body:
            continue
        pid_s, _, rest = path.partition(b"/")
        if not pid_s.isdigit() or not rest.startswith(b"fdinfo/"):
            continue
        c, probs = drm_fdinfo.parse(body.decode("utf-8", "backslashreplace"),
                                    f"/proc/{path.decode('utf-8', 'backslashreplace')}")
        b.problems.extend(probs)
        if c is not None:
            clients.append((int(pid_s), c))
    reps = drm_fdinfo.per_process(clients)
    for pid, rep in reps.items():
        if pid in b.processes:
            b.processes[pid].reported.update(rep)
    b.sources[SOURCE] = SourceStatus("ok", f"{sum(r['gpu.drm.clients'] for r in reps.values())} DRM clients "
                                     f"in {len(reps)} processes")
