"""droidtrack.report: the zip, the HTML page and the Markdown summary, escaping, redaction."""
from __future__ import annotations

import json
import re
import zipfile

import pytest
from hypothesis import given, settings, strategies as st

from droidtrack.report import Redactor, write_report
from droidtrack.report.escape import h, md, visible
from report_helpers import MD_LINK, NASTY_NAMES, XSS, MiB, parse_html, snapshot


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


# ---- escaping ---------------------------------------------------------------------------------

def test_visible_makes_controls_and_bidi_visible():
    assert visible("a\nb\tc\x1b[31m") == "a\\nb\\tc\\x1b[31m"
    assert visible("x\u202ey\u200d") == "x\\u202ey\\u200d"
    assert visible("plain name: ok") == "plain name: ok"


def test_h_escapes_markup():
    assert h(XSS) == "&lt;img src=x onerror=alert(1)&gt;"
    assert h('"\'&') == "&quot;&#x27;&amp;"


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_md_leaves_no_markdown_syntax(name):
    out = md(name)
    # every character that can open inline syntax mid-line is escaped: remove the escapes and
    # none of them is left bare
    bare = re.sub(r"\\[\\`*_\[\]<|&~@$#]", "", out)
    assert not set(bare) & set("`*[]<|&~@$")
    assert "\n" not in out and "\x1b" not in out


@given(st.text(max_size=60))
@settings(max_examples=300, deadline=None)
def test_escapers_never_raise_and_stay_on_one_line(s):
    for f in (visible, h, md):
        out = f(s)
        assert "\n" not in out and "\r" not in out and "\x1b" not in out
    assert "<" not in h(s) and ">" not in h(s) and '"' not in h(s)


# ---- the zip ----------------------------------------------------------------------------------

def test_zip_holds_every_part(tmp_path):
    snap = snapshot()
    res = write_report(tmp_path / "r.zip", snap, raws=[("../../etc/evil name.bin", b"@@tok HDR v=1 root=\n")],
                       notes=["a note"], generated=1_700_000_100.0)
    m = members(res.path)
    assert set(m) == {"report.html", "summary.md", "snapshot.json", "raw/evil_name.bin", "provenance.json",
                      "README.txt"}
    assert m["raw/evil_name.bin"] == b"@@tok HDR v=1 root=\n"
    doc = json.loads(m["snapshot.json"])
    assert doc["schema"] == "droidtrack.snapshot/1"
    assert doc["totals"]["bytes"] == sum(b.size for b in snap.buffers.values())
    prov = json.loads(m["provenance.json"])
    p = prov["provenance"]
    assert p["device model"] == "Google Pixel 7"
    assert p["build fingerprint"].startswith("google/panther/panther:14/")
    assert p["kernel"].startswith("5.10.198")
    assert p["Android version"] == "14 (SDK 34)"
    assert p["root"] == "yes (uid 0)"
    assert p["sources read"] == "bufinfo, fdinfo"
    assert p["sources missing"] == "dumpsys_meminfo (skipped), sysfs (missing)"
    assert p["report generated"] == "2023-11-14 22:15:00 UTC"
    assert prov["raw_streams"] == [{"member": "raw/evil_name.bin", "from": "../../etc/evil name.bin", "bytes": 20}]
    assert "a note" in m["summary.md"].decode()


def test_html_is_self_contained_and_escapes_every_device_string(tmp_path):
    res = write_report(tmp_path / "r.zip", snapshot())
    page = members(res.path)["report.html"].decode()
    e = parse_html(page)
    tags = [t for t, _ in e.tags]
    assert "img" not in tags and "iframe" not in tags and "link" not in tags
    assert tags.count("script") == 1
    for t, attrs in e.tags:
        assert not any(k.startswith("on") for k in attrs), (t, attrs)
        for k in ("src", "href"):
            assert k not in attrs or attrs[k].startswith("#"), (t, attrs)
    csp = [a["content"] for t, a in e.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "unsafe-inline" not in csp[0].split("script-src")[1].split(";")[0]
    text = "".join(e.text)
    # shown as text, exactly (the parser unescapes entities): the names are there, harmlessly
    assert XSS in text and "<script>alert(2)</script>" in text and MD_LINK in text
    assert "line1\\nline2" in text and "esc\\x1b[31mred" in text
    assert "\x1b" not in page
    for section in ("tags", "exporters", "processes", "kernel-only", "reconciliation", "provenance", "leaks"):
        assert f'id="{section}"' in page
    assert "<svg" in page


def test_markdown_tables_keep_their_shape(tmp_path):
    res = write_report(tmp_path / "r.zip", snapshot())
    text = members(res.path)["summary.md"].decode()
    # no bare (unescaped) markup character anywhere: every "<", "[", "`" in the summary is escaped
    assert not re.search(r"(?<!\\)[<\[`]", text), re.search(r".{20}(?<!\\)[<\[`].{20}", text)
    assert "\x1b" not in text
    for block in re.findall(r"((?:^\|.*\|\n)+)", text, re.M):
        rows = block.splitlines()
        widths = {len(re.findall(r"(?<!\\)\|", r)) for r in rows}
        assert len(widths) == 1, rows
    assert "\\<img src=x onerror=alert(1)>" in text


def test_recording_gets_charts_and_leak_suspects(tmp_path):
    snaps = [snapshot(1_700_000_000.0 + 60 * i, extra_camera=i) for i in range(6)]
    res = write_report(tmp_path / "rec.zip", snaps)
    page = members(res.path)["report.html"].decode()
    assert 'id="over-time"' in page
    assert page.count("<polyline") >= 3 + 5        # totals (3 lines) + per tag (5 tags) + processes
    e = parse_html(page)
    assert ("table", {"id": "suspect-table"}) in e.tags
    text = "".join(e.text)
    assert "growth" in text and "persistent" in text and "com.google.android.GoogleCamera" in text
    assert "6 snapshots" in text


def test_single_snapshot_says_why_there_are_no_suspects(tmp_path):
    page = members(write_report(tmp_path / "r.zip", snapshot()).path)["report.html"].decode()
    assert "leak suspects need a recording" in page
    assert 'id="over-time"' not in page


def test_no_snapshot_is_an_error(tmp_path):
    with pytest.raises(ValueError):
        write_report(tmp_path / "r.zip", [])


# ---- redaction --------------------------------------------------------------------------------

REAL_NAMES = ("GoogleCamera", "surfaceflinger", "camera.provider", "FramebufferSurface", "gpu-private",
              "R58M123ABC", "/tmp/some/dir", "oogleCamera")


def test_redacted_report_keeps_no_name(tmp_path):
    snaps = [snapshot(1_700_000_000.0 + 60 * i, extra_camera=i) for i in range(4)]
    res = write_report(tmp_path / "r.zip", snaps, raws=[("capture.dtc", b"raw with GoogleCamera inside")],
                       redactor=Redactor("s3cret"))
    m = members(res.path)
    assert not any(n.startswith("raw/") for n in m)
    assert res.omitted and "raw" in res.omitted[0]
    blob = b"\n".join(m.values())
    exporters = {b.exporter for b in snaps[0].buffers.values()}     # kernel names: kept on purpose
    for name in REAL_NAMES + tuple(n for n in NASTY_NAMES if n not in exporters) + ("cam_preview",):
        assert name.encode() not in blob, name
        assert json.dumps(name)[1:-1].encode() not in blob, name
    assert b"s3cret" not in blob
    doc = json.loads(m["snapshot.json"])
    procs = {p["pid"]: p for p in doc["processes"]}
    # one app, two processes: the package pseudonym is shared, the :service suffix is separate
    assert procs[2000]["package"] == procs[2001]["package"].split(":")[0] == procs[2000]["cmdline"][0]
    assert procs[2001]["cmdline"][0].startswith(procs[2000]["cmdline"][0] + ":svc-")
    assert procs[1000]["cmdline"] == ["/system/bin/" + procs[1000]["name"]]   # comm follows argv[0]
    # what is kept
    assert doc["device"]["model"] == "Pixel 7" and doc["device"]["fingerprint"].startswith("google/panther")
    assert doc["totals"]["by_tag"]["camera"] == 12 * 2**20 + 3 * 2 * 2**20
    assert {b["exporter"] for b in doc["buffers"]} >= {"system", "qcom,system", "kgsl"}
    prov = json.loads(m["provenance.json"])
    assert prov["redacted"] is True and "pseudonyms" in prov["provenance"]["redaction"]


def test_pseudonyms_are_stable_per_salt_and_differ_between_salts():
    a, b, c = Redactor("one"), Redactor("one"), Redactor("two")
    assert a.pseudonym("pkg", "com.example.app") == b.pseudonym("pkg", "com.example.app")
    assert a.pseudonym("pkg", "com.example.app") != c.pseudonym("pkg", "com.example.app")
    assert a.pseudonym("pkg", "com.example.app") != a.pseudonym("pkg", "com.example.ap")
    r1, r2 = Redactor(), Redactor()     # random salt per report
    assert r1.pseudonym("name", "CAMERA") != r2.pseudonym("name", "CAMERA")
    s = snapshot()
    one, two = a.snapshots([s, s])
    assert one.buffers["ino:2"].name == two.buffers["ino:2"].name == a.buffer_name("CAMERA")
    assert re.fullmatch(r"name-[a-z2-7]{10}", one.buffers["ino:2"].name)
    assert one.buffers["ino:3"].name is None      # unnamed stays unnamed


def test_redacted_problem_text_is_dropped_and_names_replaced():
    r = Redactor("k")
    (red,) = r.snapshots([snapshot()])
    (p,) = red.problems
    assert p.text == "[redacted]" and XSS not in p.message
    assert red.origin == "root:[redacted]"


# ---- issue 17: what people read ---------------------------------------------------------------

def _svg_texts(page: str, cls: str) -> list[str]:
    return [re.sub(r"<title>.*?</title>", "", t) for t in re.findall(rf'<text class="{cls}"[^>]*>(.*?)</text>', page)]


def test_chart_legends_tell_processes_apart(tmp_path):
    snaps = [snapshot(1_700_000_000.0 + 60 * i, extra_camera=i, hals=True) for i in range(4)]
    page = members(write_report(tmp_path / "r.zip", snaps).path)["report.html"].decode()
    legend = _svg_texts(page.split("<h3>Top processes (PSS)</h3>")[1], "legend")
    hals = [x for x in legend if "service" in x]
    assert len(hals) == 3 and len(set(hals)) == 3, legend     # was three times "/vendor/bin/hw/android.…"
    assert all(len(x) <= 24 for x in legend)
    assert any("provider" in x for x in hals) and any("c2" in x for x in hals)
    # the whole name is the tooltip
    assert "<title>/vendor/bin/hw/android.hardware.media.c2@1.2-service</title>" in page


def test_short_names_are_distinct_and_short():
    from droidtrack.report.html import short_names
    names = ["/vendor/bin/hw/android.hardware.camera.provider@2.7-service", "x" * 40, "x" * 39 + "y",
             "/a/b/short", "com.example.camera", "a" * 60, "a" * 60 + "b"]
    got = short_names(names)
    assert len(set(got.values())) == len(names) and all(len(v) <= 24 for v in got.values()), got
    assert got["/a/b/short"] == "/a/b/short" and got["com.example.camera"] == "com.example.camera"


def test_axis_ticks_are_round():
    from droidtrack.report.html import axis_ticks, tick_label
    top, ticks, unit = axis_ticks(int(89.2 * MiB))
    assert [tick_label(v, unit) for v in ticks] == ["0", "25 MiB", "50 MiB", "75 MiB", "100 MiB"] and top == 100 * MiB
    for vmax in (0, 1, 700, 5000, 3 * MiB + 5, 44 * MiB + 600_000, 7 << 30, 1 << 40):
        top, ticks, unit = axis_ticks(vmax)
        assert top >= vmax and ticks[0] == 0 and ticks[-1] == top and 2 <= len(ticks) <= 5
        for v in ticks:
            assert re.fullmatch(r"0|\d+(\.5)? (B|KiB|MiB|GiB|TiB)", tick_label(v, unit)), (vmax, tick_label(v, unit))


def test_chart_ticks_on_the_page_are_round(tmp_path):
    snaps = [snapshot(1_700_000_000.0 + 60 * i, extra_camera=3 * i) for i in range(5)]
    page = members(write_report(tmp_path / "r.zip", snaps).path)["report.html"].decode()
    ticks = _svg_texts(page, "tick")
    assert len(ticks) >= 9 and all(re.fullmatch(r"0|\d+(\.5)? (B|KiB|MiB|GiB)", t) for t in ticks), ticks


def test_summary_escapes_only_what_markdown_would_read(tmp_path):
    snap = snapshot()
    res = write_report(tmp_path / "r.zip", snap)
    text = members(res.path)["summary.md"].decode()
    assert "2023-11-14 22:13:20 UTC" in text                       # not 22\:13\:20
    assert "| ino:2 |" in text or "ino:4" in text                    # not ino\:4
    assert "\\-" not in text and "\\(" not in text and "\\:" not in text and "\\_" not in text


def test_summary_renders_device_strings_as_text(tmp_path):
    """Rendered by a real CommonMark renderer (markdown-it, with GFM tables and strikethrough):
    the hostile names come out as text, no link, image, code, emphasis or HTML, tables intact."""
    from markdown_it import MarkdownIt
    snap = snapshot()
    res = write_report(tmp_path / "r.zip", snap)
    text = members(res.path)["summary.md"].decode()
    html_out = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(text)
    for tag in ("<a ", "<img", "<code", "<del", "<s>", "<script", "<h1", "<h2"):
        assert tag not in html_out, (tag, html_out)
    # emphasis only where the summary itself puts it
    assert re.findall(r"<em>(.*?)</em>", html_out) == ["Full report: report.html in the attached zip (droidtrack)."]
    assert set(re.findall(r"<strong>(.*?)</strong>", html_out)) <= {
        "device:", "build:", "snapshot:", "coverage:", "sources read:", "sources missing:", "note:", "Per tag:",
        "Per exporter:", "Top processes", "Largest kernel-only buffers", "Leak suspects", "Reported by the device:",
        "Owners"}
    shown = "".join(parse_html(html_out).text)
    assert XSS in shown and MD_LINK in shown
    # every table row has as many cells as its header
    for table in re.findall(r"<table>.*?</table>", html_out, re.S):
        widths = {r.count("<td") + r.count("<th") for r in re.findall(r"<tr>.*?</tr>", table, re.S)}
        assert len(widths) == 1, table


@pytest.mark.parametrize("name", ["_a_", "*b*", "`c`", "[l](u)", "<b>", "a|b", "~~s~~", "$x$", "&amp;",
                                  "http://x.example", "www.x.example", "@user", "x@y.example", " #12",
                                  "![i](u)", "a\\*b"])
def test_md_output_renders_as_the_literal_text(name):
    from markdown_it import MarkdownIt
    out = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(f"x {md(name)} y")
    assert out == f"<p>x {h(name)} y</p>\n".replace("&#x27;", "'").replace("&quot;", '"'), out


def test_kernel_only_buffers_largest_first_then_by_inode(tmp_path):
    from droidtrack.report import view
    from droidtrack.model import Buffer
    snap = snapshot(nasty=False)
    extra = {f"ino:{i}": Buffer(key=f"ino:{i}", size=MiB, inode=i, exporter="system", name="scratch",
                                holders={}, tag="other", sources=("test",)) for i in (26, 9, 100, 25)}
    d = view.build([dataclass_replace(snap, buffers={**snap.buffers, **extra})])
    assert [b.key for b in d.kernel_only] == ["ino:4", "ino:9", "ino:25", "ino:26", "ino:100"]


def dataclass_replace(obj, **kw):
    import dataclasses
    return dataclasses.replace(obj, **kw)


def test_series_pss_per_process_label_adds_up_to_held_bytes():
    from droidtrack.report import view
    snaps = [snapshot(1_700_000_000.0 + 60 * i, extra_camera=i, hals=True) for i in range(3)]
    d = view.build(snaps)
    for p in d.series:
        assert sum(p.by_proc.values()) == p.held
    assert d.series[-1].by_proc["com.google.android.GoogleCamera"] == d.acc.processes[2000].pss


# ---- owners -------------------------------------------------------------------------------

def _owned(snap):
    """The snapshot with its owners decided, as every snapshot droidtrack builds carries them."""
    import dataclasses
    from droidtrack.model.owners import infer
    return dataclasses.replace(snap, owners=infer(snap).owners)


def test_report_has_an_owner_section_chart_and_summary(tmp_path):
    snaps = [_owned(snapshot(1_700_000_000.0 + 60 * i, extra_camera=i)) for i in range(4)]
    m = members(write_report(tmp_path / "r.zip", snaps).path)
    page = m["report.html"].decode()
    e = parse_html(page)
    assert ("table", {"class": "sortable", "id": "owner-table"}) in e.tags
    assert 'aria-label="bytes per owner"' in page and "bytes charged to the top owners over time" in page
    owners = page.split('id="owner-table"')[1].split("</table>")[0]
    rows = re.findall(r"<tr>(.*?)</tr>", owners)
    # the camera app owns the CAMERA buffer the provider shares with it, and its preview buffers
    cam = next(r for r in rows if "com.google.android.GoogleCamera<" in r)
    # (and the 4 MiB its :svc process holds: one package, one owner)
    assert f'data-v="{12 * MiB + 3 * 2 * MiB + 4 * MiB}"' in cam and "app holder" in cam and "2000, 2001" in cam
    assert any("kernel (no process holds them)" in r and f'data-v="{3 * MiB}"' in r for r in rows)
    # the suspects say whose: the growing preview buffers are charged to the camera app
    sus = page.split('id="suspect-table"')[1].split("</table>")[0]
    assert "<th>owner</th>" in sus and '<td class="name">com.google.android.GoogleCamera</td>' in sus
    md_text = m["summary.md"].decode()
    assert "**Owners**" in md_text and "| com.google.android.GoogleCamera | 22.0 MiB | 5 | app holder |" in md_text


def test_a_redacted_report_redacts_the_owners_too(tmp_path):
    snaps = [_owned(snapshot(1_700_000_000.0 + 60 * i, extra_camera=i)) for i in range(3)]
    assert any("GoogleCamera" in o.evidence for o in snaps[-1].owners.values())
    m = members(write_report(tmp_path / "r.zip", snaps, redactor=Redactor("s3cret")).path)
    blob = b"\n".join(m.values())
    for name in REAL_NAMES:
        assert name.encode() not in blob, name
    doc = json.loads(m["snapshot.json"])
    pkg = {p["pid"]: p for p in doc["processes"]}[2000]["package"]
    cam = next(b for b in doc["buffers"] if b["key"] == "ino:2")["owner"]
    assert cam["package"] == cam["name"] == pkg and cam["pid"] == 2000     # the same pseudonym
