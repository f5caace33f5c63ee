"""Device-controlled strings, made safe to show.

Every name in a report (buffer names, process names, command lines, exporter names, problem text)
comes from the device, and a buffer name alone may be 31 arbitrary bytes:
`<img src=x onerror=alert(1)>`, `|`, backticks, `[x](javascript:…)`, newlines, ESC.

- `visible(s)` (`output.text.safe`, shared with every presenter): control and invisible characters (C0/C1 controls, DEL, Unicode format characters
  such as bidi overrides and zero-width joiners, line/paragraph separators) become `\\xNN` /
  `\\uNNNN` text, so a name is always one line and shows what it really contains. A backslash is
  kept as is (names may contain them); `visible` is for display, not a reversible encoding.
- `h(s)`: visible, then HTML-escaped (& < > " ' all escaped, safe in text and quoted attributes).
- `md(s)`: visible, then every ASCII punctuation character that can start Markdown syntax
  backslash-escaped (CommonMark lets any ASCII punctuation be escaped, GitHub-flavoured tables
  honour `\\|`), so no device string can open a link, an image, a code span, an HTML tag, an
  entity, emphasis, math, an autolink or a table cell. Device strings never start a line here.
"""
from __future__ import annotations

import html

from droidtrack.present.text import safe as visible

# the ASCII punctuation that can start Markdown syntax (links, images, code, emphasis, HTML, entities,
# tables, autolinks, math); "." "-" "/" "," and friends stay readable
_PUNCT = frozenset("\\`*_{}[]()<>#+!|&~:@$=")

__all__ = ["visible", "short", "h", "md"]


def short(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def h(s: object, limit: int | None = None) -> str:
    v = visible(s)
    if limit:
        v = short(v, limit)
    return html.escape(v, quote=True)


def md(s: object, limit: int | None = None) -> str:
    v = visible(s)
    if limit:
        v = short(v, limit)
    return "".join("\\" + c if c in _PUNCT else c for c in v)
