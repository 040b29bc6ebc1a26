"""Model configs as data -> Triton's protobuf text format (``config.pbtxt``).

A config is a plain dict shaped like ``inference.ModelConfig`` (Triton's ``model_config.proto``), the
form ``google.protobuf.json_format.ParseDict`` takes: maps (``parameters``, ``input_map``,
``output_map``, ``model_warmup``'s ``inputs``) are dicts, written as one ``key: ... value ...`` entry
each, repeated fields are lists, enum values are their names. Keeping configs as data lets the tests
compare each written file, parsed with Triton's own schema, against the dict it came from. Strings are
written with JSON escapes, which text format reads the same way for the characters JSON escapes
(quotes, backslashes, control characters); non-ASCII text is kept as UTF-8.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

ENUM_FIELDS = frozenset({"data_type", "kind", "format"})
MAP_FIELDS = frozenset({"parameters", "input_map", "output_map", "inputs"})  # inputs: ModelWarmup's
_INDENT = "  "


def to_pbtxt(config: Mapping[str, Any]) -> str:
    """The text-format rendering of a config dict (ends with a newline)."""
    return "\n".join(_message_lines(config, depth=0)) + "\n"


def _scalar(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if key in ENUM_FIELDS:
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _message_lines(message: Mapping[str, Any], *, depth: int) -> list[str]:
    lines: list[str] = []
    for key, value in message.items():
        lines += _field_lines(key, value, depth=depth)
    return lines


def _block(key: str, body: list[str], *, depth: int) -> list[str]:
    pad = _INDENT * depth
    return [f"{pad}{key} {{", *body, f"{pad}}}"]


def _field_lines(key: str, value: Any, *, depth: int) -> list[str]:
    pad = _INDENT * depth
    if key in MAP_FIELDS:
        lines = []
        for entry_key, entry_value in value.items():
            if isinstance(entry_value, Mapping):
                rendered = _block("value", _message_lines(entry_value, depth=depth + 2), depth=depth + 1)
            else:
                rendered = [f"{pad}{_INDENT}value: {_scalar('value', entry_value)}"]
            lines += _block(key, [f"{pad}{_INDENT}key: {_scalar('key', entry_key)}", *rendered], depth=depth)
        return lines
    if isinstance(value, Mapping):
        return _block(key, _message_lines(value, depth=depth + 1), depth=depth)
    if isinstance(value, Sequence) and not isinstance(value, str):
        if value and all(isinstance(item, Mapping) for item in value):
            return [line for item in value for line in _block(key, _message_lines(item, depth=depth + 1), depth=depth)]
        return [f"{pad}{key}: [ {', '.join(_scalar(key, item) for item in value)} ]"]
    return [f"{pad}{key}: {_scalar(key, value)}"]
