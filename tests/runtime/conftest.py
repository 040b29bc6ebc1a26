"""Fixtures shared by tests/runtime/serving and tests/runtime/remote: one real Triton server per session
(``tests.runtime.serving.triton_server``; registered here, above both folders, so it starts once)."""

from tests.runtime.serving.triton_server import photo_bytes, repositories, serve_layout, served  # noqa: F401
