"""Reading the YAML files users write (budgets, tag rules, owner rules), whatever they hold.

One reader for all three, so that each refuses hostile input the same way, with the line:
  - nesting deeper than MAX_DEPTH (PyYAML's composer recurses once per level: 5,000 levels were a
    RecursionError, not a message);
  - a tag PyYAML's safe loader does not know (`!custom`, `!!python/object`): droidtrack's files
    use plain YAML;
  - aliases that expand to more than MAX_VALUES values (billion laughs: nine levels of ten
    aliases are 10⁹ values once a message prints them), or an alias inside its own anchor.
Aliases within those limits are ordinary YAML and work.

    node = compose(text, origin, BudgetError)     # the node tree (line numbers), None if empty
    doc = load(text, origin, RulesError)          # plain Python values

and the files themselves: read_user_file says why a user's file cannot be read, the same way for
all three; load_rule_file reads a user's file or droidtrack's built-in one (droidtrack/model/NAME),
the built-in one parsed once per text (the tag rules' YAML parse took 8 ms of every snapshot;
parsed rules are immutable).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Callable, TypeVar

import yaml

MAX_DEPTH = 64
MAX_VALUES = 100_000
# what the safe loader constructs, and the merge key (`<<: *defaults`), which it folds into its mapping
_KNOWN_TAGS = frozenset(k for k in yaml.SafeLoader.yaml_constructors if k) | {"tag:yaml.org,2002:merge"}


class _Refused(Exception):
    def __init__(self, mark, message: str):
        super().__init__(message)
        self.mark = mark


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer counts depth and expanded values, and checks tags, as it goes."""

    def __init__(self, text: str):
        super().__init__(text)
        self._depth = 0
        self._weight: dict[int, int] = {}      # id(node) -> values it expands to (itself included)

    def compose_node(self, parent, index):
        ev = self.peek_event()
        mark = ev.start_mark
        if isinstance(ev, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            w = self._weight.get(id(node))
            if w is None:                # its anchor is still being composed: the alias is inside it
                raise _Refused(mark, "an alias refers to the node that contains it")
        else:
            if self._depth >= MAX_DEPTH:
                raise _Refused(mark, f"nested too deeply (more than {MAX_DEPTH} levels)")
            self._depth += 1
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            if node.tag not in _KNOWN_TAGS:
                raise _Refused(mark, f"unknown tag {node.tag!r}: not valid YAML for droidtrack, "
                                     "whose files use no tags (write the plain value)")
            w = 1
            if not isinstance(node, yaml.ScalarNode):
                kids = node.value if isinstance(node, yaml.SequenceNode) else [x for kv in node.value for x in kv]
                for k in kids:
                    w += self._weight[id(k)]
            self._weight[id(node)] = w
        if w > MAX_VALUES:
            raise _Refused(mark, f"aliases expand this to more than {MAX_VALUES:,} values")
        return node


def compose(text: str, origin: str, error: type[Exception]):
    """The document's node tree (None for an empty document). Raises `error` with the origin and
    the line for anything invalid or refused."""
    loader = _Loader(text)
    try:
        return loader.get_single_node()
    except _Refused as e:
        raise error(f"{origin} line {e.mark.line + 1}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise error(f"{origin}{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    finally:
        loader.dispose()


def construct(node, origin: str, error: type[Exception]):
    """A node tree from compose() as plain Python values (dicts, lists, str, int, ...)."""
    if node is None:
        return None
    loader = _Loader("")
    try:
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise error(f"{origin}{where}: not valid YAML: {getattr(e, 'problem', None) or e}") from None
    finally:
        loader.dispose()


def load(text: str, origin: str, error: type[Exception]):
    """compose() then construct(): the document as plain Python values."""
    return construct(compose(text, origin, error), origin, error)


# ---- the files ------------------------------------------------------------------------------
T = TypeVar("T")
_builtin: dict[str, tuple[str, object]] = {}


def builtin_text(name: str) -> str:
    """The text of droidtrack/model/<name>."""
    return resources.files("droidtrack.model").joinpath(name).read_text(encoding="utf-8")


def read_user_file(path: str, error: type[Exception], what: str) -> str:
    """The UTF-8 text of the file `path`; else `error` saying "cannot read <what> PATH: why" or
    "<what> PATH is not UTF-8 text" (`what`: "rules file", "budget file", ...)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise error(f"cannot read {what} {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path} is not UTF-8 text") from None


def load_rule_file(path: str | None, parse: Callable[[str, str], T], builtin: str, error: type[Exception],
                   what: str) -> T:
    """parse(text, origin) of the file `path`, or of the built-in droidtrack/model/<builtin> when
    `path` is None (parsed again only when its text changed)."""
    if path is not None:
        return parse(read_user_file(path, error, what), path)
    text = builtin_text(builtin)
    hit = _builtin.get(builtin)
    if hit is None or hit[0] != text:
        hit = _builtin[builtin] = (text, parse(text, f"built-in {builtin}"))
    return hit[1]
