"""Artifact folders: staged beside their target and renamed into place, with a manifest that describes them.

``staging`` (``check_output``, ``staged_artifact``: nothing half-written is ever visible) and
``records`` (``graph_entry``, ``write_manifest``, ``refresh_file_records``: what the manifest says
about the files).
"""

from __future__ import annotations

from .records import file_records, graph_entry, library_versions, refresh_file_records, write_manifest
from .staging import OutputExistsError, check_output, remove_stale_staging, staged_artifact

__all__ = [
    "OutputExistsError",
    "check_output",
    "file_records",
    "graph_entry",
    "library_versions",
    "refresh_file_records",
    "remove_stale_staging",
    "staged_artifact",
    "write_manifest",
]
