"""Strict, safe YAML reading that remembers where every value came from.

Rulesets are law as data: a silently merged duplicate key, an anchor that expands a billion times, or
Norway's code ``NO`` read as ``false`` (YAML 1.1) would each change a determination without anyone seeing
it. This loader is ``yaml.SafeLoader`` with those doors shut, and it records line numbers so every error
can say ``file:line: message``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from compliance.errors import RulesetError

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_DEPTH = 64


class LineDict(dict[str, Any]):
    """A mapping that knows the line of itself and of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.key_lines = {}


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.item_lines = []


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases, duplicate keys or YAML 1.1 yes/no/on/off booleans."""


# Keep only true/false as booleans: `NO` is Norway, `ON` is not a flag.
_StrictLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Composer(_StrictLoader):
    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        # Anchors and aliases are refused outright: they are how a "billion laughs" file expands.
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise RulesetError(
                "YAML anchors and aliases are not allowed in rulesets", self.name, event.start_mark.line + 1
            )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _Composer, node: yaml.MappingNode, deep: bool = False) -> LineDict:
    out = LineDict()
    out.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if isinstance(key, dt.date):
            key = key.isoformat()
        if not isinstance(key, str | int | float | bool):
            raise RulesetError(f"unsupported mapping key {key!r}", loader.name, line)
        key = str(key)
        if key in out:
            raise RulesetError(f"duplicate key {key!r} (first at line {out.key_lines[key]})", loader.name, line)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_lines[key] = line
    return out


def _construct_sequence(loader: _Composer, node: yaml.SequenceNode, deep: bool = False) -> LineList:
    out = LineList()
    out.line = node.start_mark.line + 1
    for child in node.value:
        out.append(loader.construct_object(child, deep=True))
        out.item_lines.append(child.start_mark.line + 1)
    return out


def _construct_timestamp(loader: _Composer, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise RulesetError(f"invalid date {node.value!r}: {exc}", loader.name, node.start_mark.line + 1) from None


_Composer.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Composer.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Composer.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load_yaml_text(text: str, name: str) -> Any:
    """Parse YAML text strictly; errors carry ``name`` and the line."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise RulesetError(f"file is larger than {MAX_FILE_BYTES} bytes", name, 1)
    loader: _Composer | None = None
    try:
        loader = _Composer(text)  # inside the try: the reader itself rejects NUL and control characters
        loader.name = name
        node = loader.get_single_node()
        if node is None:
            return None
        _check_depth(node, name)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise RulesetError(f"YAML syntax: {exc.problem or exc}", name, line) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise RulesetError(f"YAML: {exc.reason} (character {exc.character!r})", name, line) from None
    except yaml.YAMLError as exc:
        raise RulesetError(f"YAML: {exc}", name, 1) from None
    except RecursionError:
        raise RulesetError(f"nesting deeper than {MAX_DEPTH} levels", name, 1) from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_depth(root: yaml.Node, name: str) -> None:
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RulesetError(f"nesting deeper than {MAX_DEPTH} levels", name, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)


def load_yaml_file(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RulesetError(f"cannot read: {exc.strerror}", str(path), None) from None
    if len(raw) > MAX_FILE_BYTES:
        raise RulesetError(f"file is larger than {MAX_FILE_BYTES} bytes", str(path), 1)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RulesetError("file is not valid UTF-8", str(path), line) from None
    return load_yaml_text(text, str(path))


def line_of(root: Any, loc: Sequence[str | int]) -> int | None:
    """The line of the deepest node on ``loc`` (a pydantic error location) that has one."""
    node = root
    line: int | None = getattr(root, "line", None)
    for part in loc:
        if isinstance(node, LineDict) and isinstance(part, str) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
