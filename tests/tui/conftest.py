"""TUI tests: a frozen clock (every time shown comes from the snapshots, rendered in UTC) and
helpers to feed frames to the app without a worker thread."""
from __future__ import annotations

import asyncio
import inspect
import os
import time

import pytest


@pytest.fixture(autouse=True, scope="session")
def _utc():
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run `async def` tests (Textual's Pilot) in a fresh event loop: no asyncio plugin needed."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        kwargs = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**kwargs))
        return True
    return None
