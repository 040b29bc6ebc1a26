"""ONNX Runtime's optimized-model file as a cache: optimize a graph once per machine, then load it as is.

The first CPU load of a graph runs ONNX Runtime's graph optimizations and writes the optimized graph
(``SessionOptions.optimized_model_filepath``), its initializers in an external data file
(``session.optimized_model_external_initializers_file_name``; ONNX Runtime memory-maps such files on
the CPU) together with the weights its kernels pre-packed
(``session.save_external_prepacked_constant_initializers``); later loads read that graph with
optimizations disabled, skipping the optimization, the copy of the weights out of a protobuf and the
pre-packing (BEiT-base on a Zen 4 EPYC: 0.2 s instead of 0.7-0.9 s, the process's peak RSS 1.4x the
weights instead of 1.6-2.2x, same outputs and speed; an entry takes about twice the graph's size on
disk). An entry is keyed by the sha256 of the graph and of its external data files (``verified_sha256``:
no re-read of an unchanged file), the onnxruntime version, the providers, the optimization level and
the CPU (the optimized graph holds CPU-specific layouts: ONNX Runtime warns that it fits only the
machine that wrote it). Only CPU-only sessions are cached.

Where: ``cache_root()/onnxruntime/KEY/`` (``model.onnx``, ``model.onnx.data``, ``entry.json`` with the
files' sizes). An entry is staged in a hidden sibling folder and renamed into place once complete, so a
killed process leaves no half entry (staging folders over an hour old are removed, and entries not
loaded for ``UNUSED_DAYS``, when another entry is written). A cache that cannot be written loads
without it after one warning, but still uses the entries it holds (e.g. baked into a read-only image).
An entry whose files do not match ``entry.json``, or that ONNX Runtime refuses, is removed and written
again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ArtifactError
from ..manifest.paths import artifact_file
from ..manifest.verified import cache_root, verified_sha256
from ..onnx_external_data import external_data_locations
from ..output_files import write_atomically
from ..planning.machine import cpu_fields

CACHE_FORMAT = 1
CPU_ONLY = ("CPUExecutionProvider",)
GRAPH_FILE, DATA_FILE, ENTRY_FILE = "model.onnx", "model.onnx.data", "entry.json"
_STAGING_PREFIX = ".staging-"
_STALE_STAGING_S = 3600.0
UNUSED_DAYS = 30  # an entry not loaded for this long is removed when another one is written
_EXTERNAL_NAME = "session.optimized_model_external_initializers_file_name"
_EXTERNAL_MIN_BYTES = "session.optimized_model_external_initializers_min_size_in_bytes"
_SAVE_PREPACKED = "session.save_external_prepacked_constant_initializers"
_warned: set[str] = set()


class CacheUnusable(Exception):
    """The cache folder cannot be used here (the message says why)."""


@dataclass(frozen=True)
class CachedLoad:
    """How to load a graph: ``path`` with ``options``; ``status`` "hit", "miss" (writing ``staging``) or "off"."""

    path: Path
    options: Any  # an onnxruntime SessionOptions
    status: str
    entry: Path | None = None
    staging: Path | None = None


_CPU_IDENTITY_FIELDS = ("model name", "cpu family", "model", "flags", "Features", "CPU part")


def cpu_identity() -> str:
    """The CPU's model name and all its feature flags (the optimized graph's kernels and layouts depend on them),
    as ``planning.machine`` reads ``/proc/cpuinfo``."""
    fields = cpu_fields()
    return "\n".join(f"{name}: {fields[name]}" for name in _CPU_IDENTITY_FIELDS if name in fields)


def entry_key(ort: Any, graph: Path, *, providers: tuple[str, ...], level: str) -> str:
    """The entry's name: a digest of the graph's and its external data files' sha256 and of what else
    changes the optimized graph (a graph file names its external data by offset, not by content)."""
    data = {name: verified_sha256(artifact_file(graph.parent, name, what=f"external data of {graph.name}"))
            for name in external_data_locations(graph)}
    facts = {"format": CACHE_FORMAT, "graph_sha256": verified_sha256(graph), "external_data_sha256": data,
             "onnxruntime": ort.__version__, "providers": list(providers), "optimization_level": level,
             "cpu": cpu_identity()}
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def _entry_valid(entry: Path) -> bool:
    try:
        sizes = json.loads((entry / ENTRY_FILE).read_text(encoding="utf-8"))["files"]
        return bool(sizes) and all((entry / name).stat().st_size == size for name, size in sizes.items())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def _tidy(folder: Path) -> None:
    """Remove staging folders over an hour old (a killed writer's) and entries unused for ``UNUSED_DAYS``."""
    now = time.time()
    for item in folder.iterdir():
        staging = item.name.startswith(_STAGING_PREFIX)
        try:
            used = (item / ENTRY_FILE).stat().st_mtime if (item / ENTRY_FILE).exists() else item.stat().st_mtime
        except OSError:
            continue
        if item.is_dir() and now - used > (_STALE_STAGING_S if staging else UNUSED_DAYS * 86400):
            shutil.rmtree(item, ignore_errors=True)


def _writable(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheUnusable(f"{folder} cannot be created ({error})") from error
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CacheUnusable(f"{folder} is not writable")
    return folder


def _staging(folder: Path, entry: Path) -> Path | None:
    """A fresh staging folder for ``entry``, or None (after one warning) when the cache cannot be written."""
    try:
        _tidy(_writable(folder))
        staging = folder / f"{_STAGING_PREFIX}{entry.name}-{os.getpid()}-{time.monotonic_ns()}"
        staging.mkdir()
    except (CacheUnusable, OSError) as reason:
        warn_once(f"the ONNX Runtime optimized-model cache is not used: {reason}; graphs load without it "
                  "(set BEIT_DEPLOY_CACHE to a writable folder, or to 'off' to silence this)")
        return None
    return staging


def plan_load(ort: Any, graph: Path, options: Any, *, providers: tuple[str, ...], level: str) -> CachedLoad:
    """How to load ``graph`` through the cache (``options`` are changed in place for a hit or a miss). A valid
    entry is used even where the cache cannot be written (e.g. baked into a read-only container image)."""
    root = cache_root()
    if providers != CPU_ONLY or level == "disable" or root is None:
        return CachedLoad(path=graph, options=options, status="off")
    folder = root / "onnxruntime"
    try:
        entry = folder / entry_key(ort, graph, providers=providers, level=level)
    except (OSError, ArtifactError):  # a missing, unsafe or corrupt file: ONNX Runtime says what is wrong
        return CachedLoad(path=graph, options=options, status="off")
    if _entry_valid(entry):
        with contextlib.suppress(OSError):
            os.utime(entry / ENTRY_FILE)  # last use, for _tidy
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return CachedLoad(path=entry / GRAPH_FILE, options=options, status="hit", entry=entry)
    staging = _staging(folder, entry)
    if staging is None:
        return CachedLoad(path=graph, options=options, status="off")
    options.optimized_model_filepath = str(staging / GRAPH_FILE)
    options.add_session_config_entry(_EXTERNAL_NAME, DATA_FILE)
    options.add_session_config_entry(_EXTERNAL_MIN_BYTES, "1024")
    options.add_session_config_entry(_SAVE_PREPACKED, "1")
    options.log_severity_level = 3  # not the "fits only this machine" warning: the key holds the CPU
    return CachedLoad(path=graph, options=options, status="miss", entry=entry, staging=staging)


def _move_into_place(staging: Path, entry: Path) -> None:
    """Rename ``staging`` to ``entry``, unless another process has just put a valid entry there."""
    if not _entry_valid(entry):
        shutil.rmtree(entry, ignore_errors=True)  # a broken entry, if any
        try:
            os.rename(staging, entry)
        except OSError:
            if not _entry_valid(entry):  # not another process's entry: a real failure
                raise
    shutil.rmtree(staging, ignore_errors=True)  # gone after a rename; a spare copy otherwise


def commit(load: CachedLoad) -> str:
    """After a successful session creation: move a written entry into place; the status to report."""
    if load.status != "miss" or load.staging is None or load.entry is None:
        return load.status
    try:
        sizes = {item.name: item.stat().st_size for item in load.staging.iterdir() if item.is_file()}
        if GRAPH_FILE not in sizes:
            raise OSError(f"ONNX Runtime wrote no {GRAPH_FILE}")
        write_atomically(load.staging / ENTRY_FILE, json.dumps({"files": sizes}))
        _move_into_place(load.staging, load.entry)
    except OSError as error:
        shutil.rmtree(load.staging, ignore_errors=True)
        warn_once(f"the ONNX Runtime optimized-model cache entry {load.entry} was not written ({error})")
        return "off"
    return "written"


def discard(load: CachedLoad) -> None:
    """Remove an entry ONNX Runtime refused to load, or the staging folder of a failed write."""
    for folder in (load.entry if load.status == "hit" else None, load.staging):
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
