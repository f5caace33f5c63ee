"""Device-controlled strings, made safe to show.

Every name in a report (buffer names, process names, command lines, exporter names, problem text)
comes from the device, and a buffer name alone may be 31 arbitrary bytes:
`<img src=x onerror=alert(1)>`, `|`, backticks, `[x](javascript:…)`, newlines, ESC.

- `visible(s)` (`output.text.safe`, shared with every presenter): control and invisible characters (C0/C1 controls, DEL, Unicode format characters
  such as bidi overrides and zero-width joiners, line/paragraph separators) become `\\xNN` /
  `\\uNNNN` text, so a name is always one line and shows what it really contains. A backslash is
  kept as is (names may contain them); `visible` is for display, not a reversible encoding.
- `h(s)`: visible, then HTML-escaped (& < > " ' all escaped, safe in text and quoted attributes).
- `md(s)`: visible, then backslash-escaped where a character could start Markdown syntax in the
  middle of a line (device strings never start a line here, so headings, lists, block quotes and
  setext underlines cannot happen): always `\\` `` ` `` `*` `[` `]` `<` `|` `~` `$` `&` `@`
  (code, emphasis, links and images, HTML and autolinks, table cells, strikethrough, math,
  entities, e-mail autolinks and mentions); `_` unless it is inside a word (CommonMark never
  emphasises there: `dma_heap`); `#` unless it follows a letter or digit (GitHub turns ` #12`
  into an issue link, not `Stream#0`); `:` only before `//` and the dot of a leading `www.` (URL
  autolinks). So no device string can open a link, an image, a code span, an HTML tag, an
  entity, emphasis, math, an autolink, a mention or a table cell, and `ino:26`, `17:14:00`,
  `dma_heap_devs`, `a -> b` read as they are. (CommonMark lets any ASCII punctuation be escaped;
  GitHub-flavoured tables honour `\\|`.)
"""
from __future__ import annotations

import html

from droidtrack.present.text import safe as visible

# what can start inline syntax anywhere in a line (see md() in the module doc)
_ALWAYS = frozenset("\\`*[]<|~$&@")

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
    out = []
    n = len(v)
    for i, c in enumerate(v):
        if c in _ALWAYS:
            out.append("\\")
        elif c == "_":
            if not (0 < i < n - 1 and v[i - 1].isalnum() and v[i + 1].isalnum()):
                out.append("\\")
        elif c == "#":
            if not (i and v[i - 1].isalnum()):
                out.append("\\")
        elif c == ":":
            if v.startswith("//", i + 1):
                out.append("\\")
        elif c == "." and i >= 3 and v[i - 3:i].lower() == "www" and (i == 3 or not v[i - 4].isalnum()):
            out.append("\\")
        out.append(c)
    return "".join(out)
