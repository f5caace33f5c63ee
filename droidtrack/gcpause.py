"""Pausing Python's cyclic garbage collector while a snapshot is built or accounted.

Building a snapshot of a large device allocates well over a million container objects (parsed
records, drafts, the model) that all stay alive until the step is done and form no reference
cycles. With the collector running, every generation-2 collection triggered while the heap
grows walks all of them again: on a 2,000-process device that was more than the work itself.
Paused, the short-lived ones are freed by reference counting and never traversed; only the
finished model is left for the collector's usual passes.

The pause nests and is undone on the way out (also on an exception). If the collector was
already disabled it stays so.
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
        gc.enable()
