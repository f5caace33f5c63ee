"""A plain (non-editable) install ships everything droidtrack runs: the collector included."""
from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_collector(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        p = REPO / rel
        if not p.exists() and not p.is_symlink():
            continue
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink():
            (src / rel).symlink_to(p.readlink())
        else:
            shutil.copy2(p, src / rel)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                        "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    if r.returncode and ("Could not find a version" in r.stderr or "No matching distribution" in r.stderr):
        pytest.skip("building a wheel needs setuptools from the package index, which is not reachable")
    assert r.returncode == 0, r.stderr
    wheel, = (tmp_path / "dist").glob("droidtrack-*.whl")
    with zipfile.ZipFile(wheel) as z:
        shipped = z.read("droidtrack/data/collect.sh")
    assert shipped == (REPO / "device_scripts/collect.sh").read_bytes()


def test_the_package_finds_the_collector_it_ships(tmp_path, monkeypatch):
    # an installed package has no device_scripts/ beside it: only droidtrack/data/collect.sh
    from droidtrack.collect import collector
    pkg = tmp_path / "site" / "droidtrack"
    (pkg / "collect").mkdir(parents=True)
    (pkg / "data").mkdir()
    shutil.copy(REPO / "device_scripts/collect.sh", pkg / "data/collect.sh")
    monkeypatch.setattr(collector, "__file__", str(pkg / "collect" / "collector.py"))
    assert collector.script_path() == pkg / "data" / "collect.sh"


def test_the_package_list_is_what_ci_installs():
    # tests/needs.py names the packages the full suite needs; .ci/run installs exactly those
    import re

    from needs import PACKAGES, TOOLS
    text = (REPO / ".ci/run").read_text()
    m = re.search(r"apt-get install -y -qq --no-install-recommends \\\n(.*?)>/dev/null", text, re.S)
    assert m, "the apt-get install line of .ci/run"
    assert sorted(m.group(1).replace("\\", " ").split()) == sorted(PACKAGES)
    assert {pkg for _how, pkg in TOOLS.values()} <= set(PACKAGES)
