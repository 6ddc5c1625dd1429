"""Typed reads from parsed YAML, with errors that say where and what is accepted."""

import math
from collections.abc import Callable, Iterable
from typing import Any

from harness.errors import ConfigError
from harness.yamlfile import Located, field_name

_MISSING = object()


class Fields:
    """A mapping inside a located YAML document, read field by field."""

    def __init__(self, doc: Located, here: tuple = ()):
        self.doc = doc
        self.here = here
        value = self._value_at(here)
        if not isinstance(value, dict):
            self.fail(here, value, "a mapping of fields")
        self.data: dict = value

    def _value_at(self, field_path: tuple) -> Any:
        value = self.doc.data
        for part in field_path:
            value = value[part]
        return value

    def fail(self, field_path: tuple, value: Any, accepted: str) -> None:
        shown = "missing" if value is _MISSING else _as_yaml(value)
        raise ConfigError(
            f"{self.doc.where(field_path)}: field '{field_name(field_path)}' "
            f"is {shown}; expected {accepted}"
        )

    def require_known(self, allowed: Iterable[str]) -> None:
        """Refuse unknown keys, which are almost always typos."""
        allowed = sorted(allowed)
        for key in self.data:
            if key not in allowed:
                raise ConfigError(
                    f"{self.doc.where(self.here + (key,))}: unknown field "
                    f"'{field_name(self.here + (key,))}'; accepted fields: "
                    f"{', '.join(allowed)}"
                )

    def child(self, key: str) -> "Fields":
        if key not in self.data:
            self.fail(self.here + (key,), _MISSING, "a mapping of fields")
        return Fields(self.doc, self.here + (key,))

    def items(self, key: str, default: Any = _MISSING) -> list["Fields"]:
        """A list of mappings under key, each as Fields."""
        value = self.data.get(key, default)
        if value is _MISSING:
            self.fail(self.here + (key,), _MISSING, "a list of mappings")
        if not isinstance(value, list):
            self.fail(self.here + (key,), value, "a list of mappings")
        return [Fields(self.doc, self.here + (key, i)) for i in range(len(value))]

    def get(
        self,
        key: str,
        kind: type | tuple[type, ...],
        default: Any = _MISSING,
        check: Callable[[Any], bool] | None = None,
        accepted: str | None = None,
    ) -> Any:
        where = self.here + (key,)
        if key not in self.data:
            if default is _MISSING:
                self.fail(where, _MISSING, accepted or _describe(kind))
            return default
        value = self.data[key]
        if isinstance(value, bool) and bool not in _as_tuple(kind):
            self.fail(where, value, accepted or _describe(kind))
        if not isinstance(value, kind) or (check is not None and not check(value)):
            self.fail(where, value, accepted or _describe(kind))
        return value

    def number(
        self,
        key: str,
        default: Any = _MISSING,
        minimum: float = 0.0,
        maximum: float | None = None,
    ) -> float:
        accepted = f"a number >= {minimum:g}"
        if maximum is not None:
            accepted = f"a number from {minimum:g} to {maximum:g}"
        value = self.get(
            key,
            (int, float),
            default,
            check=lambda v: (
                math.isfinite(v) and v >= minimum and (maximum is None or v <= maximum)
            ),
            accepted=accepted,
        )
        return float(value) if value is not None else value

    def choice(self, key: str, allowed: Iterable[str], default: Any = _MISSING) -> str:
        allowed = sorted(allowed)
        return self.get(
            key,
            str,
            default,
            check=lambda v: v in allowed,
            accepted=f"one of: {', '.join(allowed)}",
        )

    def string_list(self, key: str, default: Any = _MISSING) -> list[str]:
        return self.get(
            key,
            list,
            default,
            check=lambda v: all(isinstance(item, str) for item in v),
            accepted="a list of strings",
        )


# Values longer than this are cut in messages: the line number finds the rest.
MAX_SHOWN_CHARS = 120


def _as_yaml(value: Any) -> str:
    """A value as the person wrote it in YAML, not as Python prints it."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and _looks_numeric(value):
        # PyYAML reads YAML 1.1, where 1e12 without a dot is text.
        return f"{value!r} (text to YAML; write numbers like 1.0e12 or 1000)"
    text = repr(value)
    if len(text) > MAX_SHOWN_CHARS:
        # A text's own length, not that of its quoted form.
        size = len(value) if isinstance(value, str) else len(text)
        return f"{text[:MAX_SHOWN_CHARS]}... ({size} characters)"
    return text


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _describe(kind: type | tuple[type, ...]) -> str:
    names = {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        list: "a list",
        dict: "a mapping",
    }
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))
