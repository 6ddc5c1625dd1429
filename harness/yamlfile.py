"""YAML loading that remembers where each value came from.

Errors about configuration and experiments name the file and line of the
offending field, so a person can jump straight to it.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness.errors import ConfigError

MAX_FILE_BYTES = 1_000_000
# Far deeper than any experiment or config, far shallower than the recursion limit.
MAX_NESTING = 32


@dataclass(frozen=True)
class Located:
    """A parsed YAML document and the line of every field in it."""

    path: Path
    data: Any
    lines: dict[tuple, int]

    def line_of(self, field_path: tuple) -> int | None:
        """Line of field_path, or of its nearest located parent."""
        for end in range(len(field_path), -1, -1):
            line = self.lines.get(tuple(field_path[:end]))
            if line is not None:
                return line
        return None

    def where(self, field_path: tuple) -> str:
        line = self.line_of(field_path)
        return f"{self.path}:{line}" if line else str(self.path)


def _walk(node: yaml.Node, here: tuple, lines: dict[tuple, int], path: Path) -> None:
    lines[here] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: YAML merge key '<<' "
                    "is not accepted; write each field out once"
                )
            if here + (key,) in lines:
                raise ConfigError(
                    f"{path}:{key_node.start_mark.line + 1}: field "
                    f"'{field_name(here + (key,))}' appears twice (first on line "
                    f"{lines[here + (key,)]}); write each field once"
                )
            lines[here + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, here + (key,), lines, path)
            lines[here + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, here + (index,), lines, path)


def load_located(path: Path) -> Located:
    """Parse one YAML file, keeping the line of every field."""
    text = _read_text(Path(path))
    try:
        _refuse_unsafe_shapes(path, text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    lines: dict[tuple, int] = {}
    if node is not None:
        _walk(node, (), lines, Path(path))
    return Located(Path(path), data, lines)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{path}: {path.stat().st_size} bytes; expected at most "
                f"{MAX_FILE_BYTES} bytes of YAML"
            )
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text ({exc.reason} at byte "
            f"{exc.start}); expected a YAML file"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc


def _refuse_unsafe_shapes(path: Path, text: str) -> None:
    """Refuse anchors, aliases and deep nesting before anything is built.

    Aliases can expand a small file into gigabytes and deep nesting exhausts
    the parser's recursion; no experiment or config needs either.
    """
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            raise ConfigError(
                f"{path}:{line}: YAML alias '*{event.anchor}' is not accepted; "
                "write the value out in full"
            )
        if getattr(event, "anchor", None):
            raise ConfigError(
                f"{path}:{line}: YAML anchor '&{event.anchor}' is not accepted; "
                "write each value out in full"
            )
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                raise ConfigError(
                    f"{path}:{line}: lists and mappings nested {depth} deep; "
                    f"expected at most {MAX_NESTING}"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def field_name(field_path: tuple) -> str:
    """Render ('faults', 0, 'latency_ms') as 'faults[0].latency_ms'."""
    text = ""
    for part in field_path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(document)"
