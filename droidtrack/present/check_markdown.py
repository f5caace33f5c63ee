"""Markdown for a CI job summary (`droidtrack check --markdown FILE`, e.g. >> $GITHUB_STEP_SUMMARY).

Device-controlled strings are escaped: no markup, HTML or table-breaking pipes get through.
"""
from __future__ import annotations

import re

from droidtrack.ci.budgets import Report
from droidtrack.model.units import human_size
from droidtrack.present.text import safe

_MD = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def esc(s: object) -> str:
    """safe() (controls, bidi overrides, invisible characters made visible), then Markdown's
    metacharacters escaped."""
    return _MD.sub(r"\\\1", safe(s))


_ICON = {"pass": "✅ pass", "fail": "❌ **FAIL**", "skip": "⏭️ skipped", "warn": "⚠️ warn"}


def _fmt(r, v):
    if v is None:
        return "–"
    return str(v) if r.budget.scope == "leaks" else human_size(v)


def render(reports: list[Report], *, title: str = "droidtrack budgets") -> str:
    out = [f"## {esc(title)}", ""]
    if len(reports) > 1:
        out += ["| device | result | budgets exceeded | coverage |", "|---|---|---|---|"]
        for rep in reports:
            res = {0: "✅ within budget", 1: "❌ budget exceeded", 2: "⚠️ could not measure"}[rep.exit_code]
            cov = f"{rep.coverage.value:.0%}" if rep.coverage else "–"
            out.append(f"| {esc(rep.label)} | {res} | {len(rep.failed)} | {cov} |")
        out.append("")
    for rep in reports:
        head = {0: "✅", 1: "❌", 2: "⚠️"}[rep.exit_code]
        out.append(f"### {head} {esc(rep.label)}")
        out.append("")
        bits = [esc(rep.measured_for)] if rep.packages else []
        if rep.coverage is not None:
            bits.append(f"coverage {esc(rep.coverage.describe())}")
        if rep.samples > 1:
            bits.append(f"{rep.samples} samples" + (f" over {rep.seconds:.0f} s" if rep.seconds else ""))
        if bits:
            out += ["; ".join(bits), ""]
        if rep.unmeasurable:
            out += [f"> **Could not measure:** {esc(rep.unmeasurable)}", ""]
        elif rep.exit_code:
            out += [f"> **Failed:** {esc(rep.verdict)}", ""]
        if rep.results:
            out += ["| budget | result | measured | allowed | detail |", "|---|---|---:|---:|---|"]
            for r in rep.results:
                out.append(f"| {esc(r.budget.id)} | {_ICON.get(r.status, r.status)} | {_fmt(r, r.measured)} | "
                           f"{_fmt(r, r.allowed)} | {esc(r.detail)}"
                           + (f" (sample {r.sample})" if r.sample is not None else "") + " |")
            out.append("")
        for w in rep.warnings:
            out.append(f"- {'❌ **warning under --strict**' if rep.strict else '⚠️'} {esc(w)}")
        if rep.warnings:
            out.append("")
        if rep.suspects:
            out += ["<details><summary>leak suspects</summary>", "",
                    "| kind | subject | bytes | confidence | detail |", "|---|---|---:|---:|---|"]
            for s in rep.suspects[:50]:
                out.append(f"| {s.kind} | {esc(s.subject)} | {human_size(s.bytes)} | {s.confidence:.2f} | "
                           f"{esc(s.detail)} |")
            out += ["", "</details>", ""]
    return "\n".join(out) + "\n"
