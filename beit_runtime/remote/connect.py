"""``connect("http://host:8000/NAME")``: the Remote* client of whatever task the served model ``NAME`` runs.

``beit-run http://127.0.0.1:8000/beit-base photo.jpg`` runs a served repository the way ``beit-run ARTIFACT``
runs a folder: the address names the server (``http://`` or ``grpc://`` and ``host:port``, as
``beit_runtime.remote.transport`` reads them) and, after one ``/``, the ensemble ``beit-export triton
--name`` wrote. The served model's config says its task (``serving_protocol.PARAMETER_TASK``); the
registry's ``Task.remote_class`` names the client that runs it.
"""

from __future__ import annotations

from contextlib import closing

from ..errors import ArtifactError, InputError
from ..serving_protocol import PARAMETER_TASK
from ..tasks import TASKS
from .model import RemoteModel
from .readiness import wait_until_ready
from .transport import PROTOCOLS, Transport

SERVED_MODEL_FORMS = "http://host:port/NAME or grpc://host:port/NAME"


def is_served_model(text: str) -> bool:
    """Whether ``text`` names a served model (an ``http://`` or ``grpc://`` address) rather than a folder."""
    scheme, separator, _ = str(text).partition("://")
    return bool(separator) and scheme in PROTOCOLS


def split_served_model(text: str) -> tuple[str, str]:
    """(server URL, model name) from ``http://host:port/NAME`` or ``grpc://host:port/NAME``; InputError else."""
    scheme, _, rest = text.strip().partition("://")
    address, _, name = rest.partition("/")
    name = name.strip("/")
    if not name or "/" in name:
        raise InputError(f"{text!r}: a served model is named {SERVED_MODEL_FORMS} (NAME: the model "
                         "`beit-export triton --name` wrote; the repository's README lists it)")
    return f"{scheme}://{address}", name


def connect(address: str, *, timeout_s: float = 30.0, max_in_flight: int = 8) -> RemoteModel:
    """The Remote* client for the served model at ``address`` (see the module docstring), once it is ready:
    waits up to ``timeout_s`` for it, and each call gets ``timeout_s``. ArtifactError when its task has no
    client (masked image modeling is served as the bare engine only)."""
    url, name = split_served_model(address)
    with closing(Transport(url, timeout_s=timeout_s, max_in_flight=1)) as transport:
        wait_until_ready(transport, name, timeout_s=timeout_s)
        parameters = transport.model_config(name, "").get("parameters") or {}
    served = (parameters.get(PARAMETER_TASK) or {}).get("string_value", "")
    entry = TASKS.get(served)
    if entry is None or entry.remote_class is None:
        what = f"task {served!r}" if served else "no beit-deploy task"
        raise ArtifactError(f"model '{name}' at {url} serves {what}; beit-run runs the ensembles `beit-export "
                            "triton` writes for classification, segmentation and backbone artifacts")
    from . import clients

    client: type[RemoteModel] = getattr(clients, entry.remote_class)
    return client(url, name, timeout_s=timeout_s, max_in_flight=max_in_flight, ready_timeout_s=timeout_s)
