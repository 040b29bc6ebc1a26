"""Benchmark rows: beit_runtime's task classes on each engine and precision, and the PyTorch references."""

from .registry import DEFAULT_BACKENDS, REFERENCE, REGISTRY, Backend, BackendSpec

__all__ = ["DEFAULT_BACKENDS", "REFERENCE", "REGISTRY", "Backend", "BackendSpec"]
