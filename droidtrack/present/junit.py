"""JUnit XML for `droidtrack check --junit FILE`: one <testsuite> per device, one <testcase> per budget.

A failed budget is a <failure type="budget-exceeded"> whose attributes and text carry the measured
and the allowed value (bytes; suspects for the leak gate); a device that could not be measured
gets a <testcase name="measurement"> with an <error>, and budgets left unmeasured are <skipped>.
Warnings (unknown tags, patterns matching nothing) go to the suite's <system-err>.
The XML is built with xml.etree and every device-controlled string has the characters XML 1.0
forbids replaced by visible escapes, so any CI's JUnit reader accepts it.
"""
from __future__ import annotations

import re
import socket
import time
import xml.etree.ElementTree as ET

from droidtrack.ci.budgets import Report
from droidtrack.model.units import human_size
from droidtrack.present.text import safe

# the one escape: controls, surrogates and non-characters XML 1.0 forbids, and bidi overrides and
# other invisible characters that would reorder what a CI page shows, become visible escapes
clean = safe


def _value(r) -> str:
    if r.budget.scope == "leaks":
        return str(r.measured)
    return f"{r.measured} bytes ({human_size(r.measured)})" if r.measured is not None else "not measured"


def _allowed(r) -> str:
    if r.budget.scope == "leaks":
        return f"{r.allowed} suspect(s)"
    return f"{r.allowed} bytes ({human_size(r.allowed)})"


def to_element(reports: list[Report], *, name: str = "droidtrack check", elapsed: float = 0.0) -> ET.Element:
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    host = clean(socket.gethostname())
    for rep in reports:
        dev = clean(rep.label or "device")
        suite = ET.SubElement(root, "testsuite", name=f"droidtrack budgets: {dev}", timestamp=stamp,
                              hostname=host)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="device", value=dev)
        if rep.coverage is not None:
            ET.SubElement(props, "property", name="coverage", value=f"{rep.coverage.value:.4f}")
        ET.SubElement(props, "property", name="samples", value=str(rep.samples))
        ET.SubElement(props, "property", name="measured_for", value=clean(rep.measured_for))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        cls = f"droidtrack.{re.sub(r'[^A-Za-z0-9_.:-]', '_', rep.label or 'device')}"
        if rep.unmeasurable:
            tc = ET.SubElement(suite, "testcase", classname=cls, name="measurement", time="0")
            ET.SubElement(tc, "error", message=clean(rep.unmeasurable), type="could-not-measure").text = \
                clean(rep.unmeasurable) + ("\ncoverage: " + clean(rep.coverage.describe()) if rep.coverage else "")
            counts["tests"] += 1
            counts["errors"] += 1
        for r in rep.results:
            tc = ET.SubElement(suite, "testcase", classname=cls, name=clean(r.budget.id), time="0")
            counts["tests"] += 1
            where = f"budget file line {r.budget.line}" if r.budget.line else ""
            text = (f"measured: {_value(r)}\nallowed: {_allowed(r)}\n{clean(r.detail)}"
                    + (f"\nsample: {r.sample}" if r.sample is not None else "") + (f"\n{where}" if where else ""))
            if r.status == "fail":
                counts["failures"] += 1
                f = ET.SubElement(tc, "failure", type="budget-exceeded",
                                  message=clean(f"{r.budget.id}: measured {_value(r)} > allowed {_allowed(r)}"))
                f.set("measured", "" if r.measured is None else str(r.measured))
                f.set("allowed", str(r.allowed))
                f.text = text
            elif r.status == "skip":
                counts["skipped"] += 1
                ET.SubElement(tc, "skipped", message=clean(r.detail))
            else:
                ET.SubElement(tc, "system-out").text = text
        for i, w in enumerate(rep.strict_failures):
            tc = ET.SubElement(suite, "testcase", classname=cls, name=f"strict warning {i + 1}", time="0")
            ET.SubElement(tc, "failure", type="strict-warning",
                          message=clean(f"warning under --strict: {w}")).text = clean(w)
            counts["tests"] += 1
            counts["failures"] += 1
        if rep.warnings:
            ET.SubElement(suite, "system-err").text = "\n".join("warning: " + clean(w) for w in rep.warnings)
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", "0")
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{elapsed:.3f}")
    return root


def dumps(reports: list[Report], **kw) -> str:
    el = to_element(reports, **kw)
    ET.indent(el)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(el, encoding="unicode") + "\n"
