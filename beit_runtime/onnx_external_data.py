"""The external-data file names (``location``) inside an ONNX file, read without the ``onnx`` package.

Deliberately hand-written: ``onnx`` is an export-side package, not a runtime dependency, and parsing a
whole ModelProto with protobuf would read every weight into memory (and cannot hold a graph over 2 GB).
What is needed is small: the ``location`` of every tensor that keeps its data in another file, so that
an artifact whose graph points outside its folder is refused before anything loads it (ONNX Runtime >=
1.24 refuses such graphs itself, at session creation; older runtimes, e.g. the one inside a Triton
backend, do not), and so that a repository writer knows every file a graph reads. This module walks the
protobuf wire format of onnx.proto over a read-only memory map, descending only into the messages that
can hold tensors and skipping every other field by its length:

    ModelProto          graph 7, training_info 20, functions 25
    TrainingInfoProto   initialization 1, algorithm 2             (GraphProto)
    GraphProto          node 1, initializer 5, sparse_initializer 15
    FunctionProto       node 7, attribute_proto 11
    NodeProto           attribute 5
    AttributeProto      t 5, g 6, tensors 10, graphs 11, sparse_tensor 22, sparse_tensors 23
    SparseTensorProto   values 1, indices 2                       (TensorProto)
    TensorProto         external_data 13 -> StringStringEntryProto key 1, value 2

Every "location" entry is reported, whatever the tensor's ``data_location`` says (stricter than readers
that look only at EXTERNAL tensors). tests/runtime/test_artifact_paths.py compares the result with onnx's
own traversal of the same files.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import ArtifactIntegrityError

_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 20: "training", 25: "function"},
    "training": {1: "graph", 2: "graph"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node", 11: "attribute"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
    "tensor": {13: "entry"},
}
MAX_DEPTH = 100  # protobuf's own default recursion limit
_VARINT, _FIXED64, _LENGTH_DELIMITED, _START_GROUP, _END_GROUP, _FIXED32 = 0, 1, 2, 3, 4, 5


class _Corrupt(Exception):
    """The bytes are not a well-formed protobuf message."""


def external_data_locations(path: str | Path) -> list[str]:
    """Sorted, distinct ``location`` values of the external-data entries in the ONNX file at ``path``."""
    path = Path(path)
    found: set[str] = set()
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return []
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                _walk(buffer, 0, len(buffer), "model", found, depth=0)
    except _Corrupt as error:  # protobuf (and so ONNX Runtime) would refuse these bytes too
        raise ArtifactIntegrityError(
            f"could not load {path}: it is not a well-formed ONNX file ({error}); it is truncated or corrupt, "
            "re-export the artifact"
        ) from error
    return sorted(found)


def _varint(buffer: mmap.mmap, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Corrupt(f"bad varint at byte {pos}")
        byte = buffer[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _length_delimited_fields(buffer: mmap.mmap, pos: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, stop) of every length-delimited field of the message in buffer[pos:end]."""
    while pos < end:
        number, wire_type, pos = _key(buffer, pos, end)
        if wire_type == _LENGTH_DELIMITED:
            length, pos = _varint(buffer, pos, end)
            if pos + length > end:
                raise _Corrupt(f"field {number} at byte {pos} runs past the end of its message")
            yield number, pos, pos + length
            pos += length
        else:
            pos = _skip(buffer, pos, end, number, wire_type, depth=0)


def _key(buffer: mmap.mmap, pos: int, end: int) -> tuple[int, int, int]:
    key, pos = _varint(buffer, pos, end)
    number, wire_type = key >> 3, key & 7
    if number == 0:
        raise _Corrupt(f"field number 0 at byte {pos}")
    return number, wire_type, pos


def _skip(buffer: mmap.mmap, pos: int, end: int, number: int, wire_type: int, *, depth: int) -> int:
    """The position after a field that is not length-delimited (groups, deprecated but legal, included)."""
    if wire_type == _VARINT:
        return _varint(buffer, pos, end)[1]
    if wire_type in (_FIXED64, _FIXED32):
        pos += 8 if wire_type == _FIXED64 else 4
        if pos > end:
            raise _Corrupt(f"field {number} runs past the end of its message")
        return pos
    if wire_type == _START_GROUP and depth < MAX_DEPTH:
        while True:
            inner, inner_type, pos = _key(buffer, pos, end)
            if inner_type == _END_GROUP:
                if inner != number:
                    raise _Corrupt(f"group {number} closed as {inner} at byte {pos}")
                return pos
            if inner_type == _LENGTH_DELIMITED:
                length, pos = _varint(buffer, pos, end)
                pos += length
                if pos > end:
                    raise _Corrupt(f"field {inner} runs past the end of its group")
            else:
                pos = _skip(buffer, pos, end, inner, inner_type, depth=depth + 1)
    raise _Corrupt(f"unexpected wire type {wire_type} for field {number} at byte {pos}")


def _walk(buffer: mmap.mmap, pos: int, end: int, kind: str, found: set[str], *, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise _Corrupt(f"messages nested more than {MAX_DEPTH} deep")
    children = _CHILDREN[kind]
    for number, start, stop in _length_delimited_fields(buffer, pos, end):
        child = children.get(number)
        if child == "entry":
            _read_entry(buffer, start, stop, found)
        elif child is not None:
            _walk(buffer, start, stop, child, found, depth=depth + 1)


def _read_entry(buffer: mmap.mmap, pos: int, end: int, found: set[str]) -> None:
    """A StringStringEntryProto: record its value when its key is "location" (the last of each field wins)."""
    fields: dict[int, bytes] = {}
    for number, start, stop in _length_delimited_fields(buffer, pos, end):
        fields[number] = buffer[start:stop]
    try:
        key, value = fields.get(1, b"").decode("utf-8"), fields.get(2, b"").decode("utf-8")
    except UnicodeDecodeError as error:
        raise _Corrupt(f"external-data entry at byte {pos} is not UTF-8") from error
    if key == "location":
        found.add(value)
