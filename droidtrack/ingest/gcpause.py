"""Pausing Python's cyclic garbage collector while a snapshot is built or accounted.

Building a snapshot of a large device allocates well over a million container objects (parsed
records, drafts, the model) that all stay alive until the step is done and form no reference
cycles. With the collector running, every generation-2 collection triggered while the heap
grows walks all of them again: on a 2,000-process device that was more than the work itself.
Paused, the short-lived ones are freed by reference counting and never traversed.

On the way out, what survived the pause (the finished model: 100,000 objects on that device) is
moved to the oldest generation before the collector is enabled again (gc.freeze() then
gc.unfreeze(), which the documentation describes as exactly that). Left in the youngest, all of
it would be walked by the first collection after the pause and again by the next middle-
generation one, 40 ms each, although it lives as long as the snapshot; in the oldest it waits
for a full collection like any long-lived data. The move takes everything then young, so
cyclic garbage from before the pause is also left for a full collection. It is skipped when
the application has frozen objects itself (unfreeze would release them).

The pause nests and is undone on the way out (also on an exception). If the collector was
already disabled it stays so, and nothing is moved.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused() -> Iterator[None]:
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()
