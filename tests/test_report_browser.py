"""The report page in a real headless browser (Debian's chromium): it renders, its script runs
without errors, and no device string became an element.

Skipped, with the reason, when chromium is not installed (`apt-get install -y chromium`).
"""
from __future__ import annotations

import shutil
import subprocess
import zipfile

import pytest

from droidtrack.report import Redactor, write_report
from report_helpers import MD_LINK, XSS, Elements, make_bugreport_zip, parse_html, snapshot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed: apt-get install -y chromium "
                                 "(the CI image needs it in .ci/run's apt-get line)")]


def chromium(url: str, tmp_path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", *extra, url],
        capture_output=True, text=True, timeout=120)


def render(tmp_path, zip_path) -> tuple[Elements, str, str]:
    out = tmp_path / "page"
    out.mkdir()
    with zipfile.ZipFile(zip_path) as z:
        z.extract("report.html", out)
    page = out / "report.html"
    r = chromium(page.as_uri(), tmp_path, "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    dom = parse_html(r.stdout)
    console = [l for l in r.stderr.splitlines() if ":CONSOLE" in l]
    return dom, r.stdout, "\n".join(console)


def assert_clean(dom: Elements, html: str, console: str) -> None:
    assert console == "", console              # no script error, no CSP violation, nothing logged
    assert 'data-ready="1"' in html            # the page's own script ran to its end
    tags = [t for t, _ in dom.tags]
    assert "img" not in tags and "iframe" not in tags and "object" not in tags
    assert tags.count("script") == 1
    for t, attrs in dom.tags:
        assert not any(k.startswith("on") for k in attrs), (t, attrs)


def test_report_page_in_chromium(tmp_path):
    snaps = [snapshot(1_700_000_000.0 + 60 * i, extra_camera=i) for i in range(5)]
    res = write_report(tmp_path / "r.zip", snaps, raws=[("capture.dtc", b"x")])
    dom, html, console = render(tmp_path, res.path)
    assert_clean(dom, html, console)
    text = "".join(dom.text)
    # the hostile names are on the page, as text
    assert XSS in text and MD_LINK in text and "<script>alert(2)</script>" in text
    assert "esc\\x1b[31mred" in text and "line1\\nline2" in text
    # what the page shows
    assert "com.google.android.GoogleCamera" in text and "/system/bin/surfaceflinger" in text
    assert "Totals per tag" in text and "Reconciliation" in text and "Kernel-only buffers (1, 3.0 MiB)" in text
    assert "Google Pixel 7" in text and "google/panther/panther:14/UQ1A.240205.004/11269751:user/release-keys" in text
    ids = {a.get("id") for _, a in dom.tags}
    assert {"tag-table", "exporter-table", "proc-table", "recon-table", "source-table", "suspect-table",
            "over-time", "owners", "owner-table"} <= ids
    # the owner section: the camera app is charged what it shares with the camera provider
    assert "Owners" in text and "Top owners (charged bytes)" in text and "app holder" in text
    assert sum(1 for t, _ in dom.tags if t == "svg") >= 6     # tag and owner bars + 4 charts over time
    procs = [a for t, a in dom.tags if t == "details"]
    assert [a["data-pid"] for a in procs][:2] == ["2000", "1000"]  # biggest PSS first


def test_bugreport_report_in_chromium(tmp_path):
    from droidtrack.sources.bugreport import BugreportSource
    from droidtrack.model.tags import load_rules
    br = make_bugreport_zip(tmp_path / "bugreport.zip")
    src = BugreportSource(str(br), rules=load_rules())
    res = write_report(tmp_path / "r.zip", src.collect().snapshot, raws=[("bugreport-sections.txt", src.excerpt())],
                       redactor=Redactor("k"))
    dom, html, console = render(tmp_path, res.path)
    assert_clean(dom, html, console)
    text = "".join(dom.text)
    assert "redacted" in text and "GoogleCamera" not in text and XSS not in text
    assert "unknown (source cannot tell fd from mapping)" in text
    assert "dmabuf_dump.total" in text and "matches droidtrack's unique total" in text


def test_report_screenshot_is_not_blank(tmp_path):
    res = write_report(tmp_path / "r.zip", snapshot())
    with zipfile.ZipFile(res.path) as z:
        z.extract("report.html", tmp_path)
    shot = tmp_path / "shot.png"
    r = chromium((tmp_path / "report.html").as_uri(), tmp_path, f"--screenshot={shot}", "--window-size=1200,900")
    assert r.returncode == 0, r.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000      # a page of tables and charts, not an empty white canvas


# every word of the leak table's "what" column on one line (a word split over two lines is two rects)
SPLIT_WORDS = """(() => { const out = [];
  document.querySelectorAll('#suspect-table tbody tr td:nth-child(2)').forEach(td => {
    const node = td.firstChild; if (!node) return; const s = node.textContent; let i = 0;
    for (const w of s.split(' ')) { if (w.length > 1) { const r = document.createRange();
      r.setStart(node, i); r.setEnd(node, i + w.length);
      const tops = new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top)));
      if (tops.size > 1) out.push(w); }
      i += w.length + 1; } });
  return out; })()"""


@pytest.mark.parametrize("width", [1200, 820, 640])
def test_leak_table_never_breaks_a_word(tmp_path, width):
    from browser import Chromium
    snaps = [snapshot(1_700_000_000.0 + 60 * i, extra_camera=i) for i in range(5)]
    res = write_report(tmp_path / "r.zip", snaps)
    with zipfile.ZipFile(res.path) as z:
        z.extract("report.html", tmp_path)
    with Chromium(tmp_path, size=(width, 900)) as page:
        page.open((tmp_path / "report.html").as_uri())
        page.wait_for("document.body && document.body.getAttribute('data-ready')")
        cells = page.eval("document.querySelectorAll('#suspect-table tbody tr').length")
        assert cells >= 2
        assert page.eval(SPLIT_WORDS) == []
        page.eval("document.getElementById('leaks').scrollIntoView()")
        page.screenshot(tmp_path / f"leaks-{width}.png")
