"""Errors of the serving side that have no local twin in ``beit_runtime.errors``."""

from __future__ import annotations

from ..errors import BeitDeployError


class ServerError(BeitDeployError):
    """The Triton server answered with an error that is not about the request's inputs."""


class ServerUnavailableError(ServerError):
    """No Triton server answers at the URL (not started, wrong port, or not ready yet)."""


class ServeSetupError(BeitDeployError):
    """``beit-serve --setup`` could not prepare the server or its Python environment."""
