"""Loading an artifact's manifest: read once, parsed into frozen records, every named file checked."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import ArtifactIntegrityError, InputError, ManifestError
from ..onnx_external_data import external_data_locations
from .document import ManifestRecord, parse_manifest
from .paths import MANIFEST_FILE, REEXPORT_HINT, artifact_file
from .verified import verified_sha256


@dataclass(frozen=True, kw_only=True)
class Manifest(ManifestRecord):
    """A validated manifest plus the folder it came from."""

    folder: Path

    @classmethod
    def of(cls, folder: Path, record: ManifestRecord) -> Manifest:
        values = {item.name: getattr(record, item.name) for item in fields(ManifestRecord)}
        return cls(folder=folder, **values)

    def file_path(self, name: str, *, what: str = "file") -> Path:
        """The resolved path of a file this artifact names, checked to lie inside its folder (``artifact_file``)."""
        return artifact_file(self.folder, name, what=what)

    def graph_path(self, variant: str = "fp32") -> Path:
        """The graph file of ``variant``, after checking that it and every external-data file it names
        (in the manifest and inside the graph) exist inside the artifact folder."""
        if variant not in self.graphs:
            available = ", ".join(sorted(self.graphs)) or "none"
            raise ManifestError(
                f"artifact {self.folder} has no '{variant}' graph (it has: {available}); "
                f"{REEXPORT_HINT} and the matching flag (--fp16, --int8)"
            )
        record = self.graphs[variant]
        path = self.file_path(record.file, what=f"graph '{variant}' file")
        if not path.is_file():
            raise ArtifactIntegrityError(self.missing_graph_message(variant, path))
        listed = [self.file_path(name, what=f"external data of graph '{variant}'") for name in record.external_data]
        inside = [artifact_file(path.parent, location, what=f"external-data location inside {path.name}")
                  for location in external_data_locations(path)]
        for data_path in listed + inside:
            if not data_path.is_file():
                raise ArtifactIntegrityError(
                    f"external data {data_path} of graph '{variant}' is missing; {REEXPORT_HINT}")
        return path

    def missing_graph_message(self, variant: str, path: Path) -> str:
        """What to say when the file of graph ``variant`` is gone: the model graphs whose files are there."""
        present = [name for name, graph in sorted(self.graphs.items())  # the precisions' own graphs
                   if graph.role == "model" and name == graph.precision and (self.folder / graph.file).is_file()]
        if self.graphs[variant].role != "model" or not present:
            return f"graph '{variant}' file {path} is missing; {REEXPORT_HINT}"
        ways = " or ".join(f"--precision {name} / precision={name!r}" for name in present)
        return (f"graph '{variant}' file {path} is missing (deleted after export?); this artifact's graphs: "
                f"{', '.join(present)} - run one of those ({ways}), or {REEXPORT_HINT} and the flag that writes the "
                "missing one")

    def check_run_files(self, graphs: Iterable[str], *, engines: Iterable[str] = ()) -> None:
        """Check the size and sha256 of the files a run reads: those of the graph variants ``graphs`` and the
        TensorRT ``engines`` (their external data included), and every recorded file no graph or engine names.
        Another variant's files are not read: a variant deleted to save space does not stop the others loading.
        ArtifactIntegrityError when one is missing (for a graph: naming the graphs that are there) or changed."""
        graphs = [variant for variant in graphs if variant in self.graphs]  # graph_path names one that is not
        named = {name for variant in graphs for name in _graph_files(self, variant)}
        named |= {self.engines[variant].file for variant in engines if variant in self.engines}
        others = set(self.files) - {name for _, name in _named_files(self)}
        for variant in graphs:
            path = self.file_path(self.graphs[variant].file, what=f"graph '{variant}' file")
            if not path.is_file():
                raise ArtifactIntegrityError(self.missing_graph_message(variant, path))
        _check_files(self, self.folder, names=named | others)

    def engine_path(self, variant: str) -> Path:
        """The TensorRT engine file built from graph ``variant``; ManifestError naming build-engine when none."""
        if variant not in self.engines:
            available = ", ".join(sorted(self.engines)) or "none"
            raise ManifestError(
                f"artifact {self.folder} has no '{variant}' TensorRT engine (it has: {available}); "
                "build one on the target machine with `beit-export build-engine FOLDER`"
            )
        return self.file_path(self.engines[variant].file, what=f"engine '{variant}' file")


def read_manifest_json(folder: Path) -> Any:
    """The parsed JSON of ``folder/manifest.json``; ManifestError when it is absent or not JSON."""
    path = folder / MANIFEST_FILE
    if folder.exists() and not folder.is_dir():
        raise ManifestError(f"{folder} is a file: pass the artifact folder (the one holding {MANIFEST_FILE})")
    if not folder.is_dir():
        raise ManifestError(f"artifact folder {folder} does not exist; {REEXPORT_HINT}")
    if not path.is_file():
        raise ManifestError(f"{folder} has no {MANIFEST_FILE}: it is not a beit-deploy artifact; "
                            f"{_artifacts_inside(folder) or REEXPORT_HINT}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path} is not readable JSON ({error}); {REEXPORT_HINT}") from error


def _artifacts_inside(folder: Path, *, shown: int = 5) -> str:
    """"it holds artifacts: A, B (pass one of them)" when folders right inside ``folder`` are artifacts, else ""."""
    try:
        inside = sorted(child for child in folder.iterdir() if (child / MANIFEST_FILE).is_file())
    except OSError:
        return ""
    if not inside:
        return ""
    names = ", ".join(str(child) for child in inside[:shown]) + (", ..." if len(inside) > shown else "")
    return f"it holds {'an artifact' if len(inside) == 1 else 'artifacts'}: {names} (pass one of them)"


def _graph_files(record: ManifestRecord, variant: str) -> list[str]:
    """The files of graph ``variant``: its graph file and the external data the manifest lists for it."""
    graph = record.graphs[variant]
    return [graph.file, *graph.external_data]


def _named_files(record: ManifestRecord) -> list[tuple[str, str]]:
    """(where, name) of every file a graph or engine of the manifest names."""
    named: list[tuple[str, str]] = []
    for variant, graph in record.graphs.items():
        named.append((f"graph '{variant}' file", graph.file))
        named += [(f"external data of graph '{variant}'", name) for name in graph.external_data]
    return named + [(f"engine '{variant}' file", engine.file) for variant, engine in record.engines.items()]


def _check_files(record: ManifestRecord, folder: Path, *, names: Iterable[str] | None = None) -> None:
    """Size and sha256 of the recorded files ``names`` (None: all of them) against the files record."""
    chosen = set(record.files) if names is None else set(names)
    for name, expected in record.files.items():
        if name not in chosen:
            continue
        path = artifact_file(folder, name, what="files record")
        if not path.is_file():
            raise ArtifactIntegrityError(f"artifact file {path} is missing; {REEXPORT_HINT}")
        if path.stat().st_size != expected.bytes or verified_sha256(path) != expected.sha256:
            raise ArtifactIntegrityError(
                f"artifact file {path} does not match the hash in {MANIFEST_FILE} (changed or truncated "
                f"after export); {REEXPORT_HINT}"
            )


def load_manifest(folder: str | Path, *, verify_files: bool = True, owner: str = "load_manifest") -> Manifest:
    """Read, parse and validate ``folder/manifest.json``; with ``verify_files`` check every file's size and sha256.
    ``folder`` must be a path (``str`` or ``os.PathLike``): anything else is an InputError naming ``owner``.

    Every file name the manifest holds is checked to lie inside ``folder`` (``artifact_file``) in both
    cases; the external-data locations inside a graph are checked when ``Manifest.graph_path`` hands the
    graph out to be loaded.
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise InputError(f"{owner} takes the artifact folder beit-export wrote, as a str or pathlib.Path; got "
                         f"{folder!r} ({type(folder).__name__})")
    folder = Path(folder)
    record = parse_manifest(read_manifest_json(folder), where=str(folder / MANIFEST_FILE))
    for where, name in _named_files(record) + [("files record", name) for name in record.files]:
        artifact_file(folder, name, what=where)
    if verify_files:
        _check_files(record, folder)
    return Manifest.of(folder, record)


def is_artifact(folder: str | Path) -> bool:
    """Whether ``folder`` holds a ``manifest.json`` (it may still fail to load)."""
    return (Path(folder) / MANIFEST_FILE).is_file()


def find_manifest(folder: str | Path, *, verify_files: bool = False) -> Manifest | None:
    """The manifest of ``folder`` when it holds a ``manifest.json`` (e.g. the folder of an engine file), else
    None; a manifest that is there but broken raises ManifestError as ``load_manifest`` does."""
    if not is_artifact(folder):
        return None
    return load_manifest(folder, verify_files=verify_files)
