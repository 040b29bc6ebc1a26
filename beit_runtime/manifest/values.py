"""Reading typed values out of parsed JSON, with a ManifestError naming the field; freezing nested JSON."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from ..errors import ManifestError
from .paths import REEXPORT_HINT

_MISSING: Any = object()
JsonMapping = Mapping[str, Any]


def freeze(value: Any) -> Any:
    """Nested JSON with every dict made a read-only mapping and every list a tuple."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(key): freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The JSON form of a frozen value: mappings become dicts, tuples lists."""
    if isinstance(value, Mapping):
        return {str(key): thaw(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(item) for item in value]
    return value


class Fields:
    """One JSON object of the manifest, read field by field; ``where`` names it in error messages."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ManifestError(f"manifest {where} must be a JSON object, got {type(data).__name__}; {REEXPORT_HINT}")
        self.data: JsonMapping = data
        self.where = where

    def _bad(self, key: str, expected: str) -> ManifestError:
        return ManifestError(
            f"manifest {self.where}: '{key}' must be {expected}, got {self.data.get(key)!r}; {REEXPORT_HINT}"
        )

    def _value(self, key: str, default: Any) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise ManifestError(f"manifest {self.where} lacks '{key}'; {REEXPORT_HINT}")
        return default

    def text(self, key: str, default: Any = _MISSING) -> Any:
        value = self._value(key, default)
        if value is not default and not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def flag(self, key: str, default: Any = _MISSING) -> Any:
        value = self._value(key, default)
        if value is not default and not isinstance(value, bool):
            raise self._bad(key, "true or false")
        return value

    def integer(self, key: str, default: Any = _MISSING) -> Any:
        value = self._value(key, default)
        if value is not default and (isinstance(value, bool) or not isinstance(value, int)):
            raise self._bad(key, "an integer")
        return value

    def number(self, key: str, default: Any = _MISSING) -> Any:
        value = self._value(key, default)
        if value is not default and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise self._bad(key, "a number")
        return value

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        """A JSON object (``null`` reads as the default when there is one)."""
        value = self._value(key, default)
        if value is None and default is not _MISSING:
            return default
        if value is not default and not isinstance(value, Mapping):
            raise self._bad(key, "a JSON object")
        return value

    def items(self, key: str, default: Any = _MISSING) -> Any:
        """A JSON list (``null`` reads as the default when there is one)."""
        value = self._value(key, default)
        if value is None and default is not _MISSING:
            return default
        if value is not default and (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)):
            raise self._bad(key, "a list")
        return value

    def frozen(self, key: str, default: Any = _MISSING) -> Any:
        """Any JSON value, frozen (``freeze``)."""
        return freeze(self._value(key, default))
