"""Artifact folders: staged beside their target and renamed into place, with a manifest that describes them.

``staging`` (``check_output``, ``staged_artifact``: nothing half-written is ever visible) and
``records`` (``graph_entry``, ``new_manifest_record``, ``write_export_manifest``: what the manifest says
about the files; the writing itself is ``beit_runtime.manifest.write_manifest``).
"""

from __future__ import annotations

from .records import file_records, graph_entry, new_manifest_record, recorded_versions, write_export_manifest
from .staging import OutputExistsError, check_output, output_error, remove_stale_staging, staged_artifact

__all__ = [
    "OutputExistsError",
    "check_output",
    "file_records",
    "graph_entry",
    "new_manifest_record",
    "output_error",
    "recorded_versions",
    "remove_stale_staging",
    "staged_artifact",
    "write_export_manifest",
]
