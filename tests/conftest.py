"""Shared by the whole suite: tests/ on sys.path, so that helpers (needs.py, collector_support.py)
import the same way from tests/, tests/device/ and tests/tui/."""
from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

# the booted VMs of the realkernel tests, shared by every module that uses them
pytest_plugins = ("realkernel.boot",)
