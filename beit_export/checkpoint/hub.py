"""Checkpoints from the Hugging Face hub (or its local cache) through ``huggingface_hub``.

``download_checkpoint(model_id)`` fetches config.json, preprocessor_config.json and the weights (the
first of model.safetensors, its sharded index, pytorch_model.bin, its sharded index that the repository
has; an index with every shard it names) into the HF cache (``HF_HOME`` / ``HF_HUB_CACHE``, from
``HF_ENDPOINT``) and returns the snapshot folder and the commit the revision resolved to. Later
runs, ``HF_HUB_OFFLINE=1`` included, work from the cache: offline, the first of those weight files the
cache holds is used (a cache made by ``hf download`` does not record which files the hub lacks).
Every failure becomes a one-line ``ModelLoadError`` that says what happened and what to do: a missing
repository, revision or file (HTTP 404/401), a refused or dropped connection, a timeout, an offline
cache miss.

One TCP connection to the endpoint comes first: when the host name does not resolve, the connection is
refused or the network is unreachable, only the local cache is read, so a machine without the hub gets
its cached snapshot, or the error, at once instead of after huggingface_hub's five retries (about 25 s
of "Retrying in 8s"). Behind a proxy (``HTTPS_PROXY`` and the like) the proxy connects, so no probe is made.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import ModelLoadError
from . import presets

WEIGHT_CANDIDATES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                     "pytorch_model.bin.index.json")
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
# Exception class names (anywhere in an error's cause chain) that say how the connection failed; names,
# not classes, so requests-, httpx- and httpx2-based huggingface_hub releases are all understood.
_NETWORK_FAILURES = (
    ("offline", {"OfflineModeIsEnabled"}),
    ("timeout", {"TimeoutException", "Timeout", "TimeoutError"}),
    ("connect", {"ConnectError", "ConnectionRefusedError", "NewConnectionError", "ConnectionError", "gaierror"}),
    ("dropped", {"RemoteProtocolError", "ReadError", "ConnectionResetError", "ChunkedEncodingError", "IncompleteRead"}),
)


def download_checkpoint(model_id: str, *, revision: str | None = None, weights: bool = True) -> tuple[Path, str | None]:
    """Fetch config (+ preprocessor config, + weights) from the hub or its cache; returns (folder, commit)."""
    from huggingface_hub import constants

    unreachable = _unreachable_hub()
    fetch = partial(_hub_file, model_id, revision=revision, unreachable=unreachable)
    config_path = Path(fetch("config.json", required=True))
    fetch("preprocessor_config.json", required=False)
    if weights:
        _fetch_weights(fetch, model_id, revision=revision, offline=constants.HF_HUB_OFFLINE or unreachable is not None)
    return config_path.parent, config_path.parent.name  # the snapshot folder is named by the commit


def _fetch_weights(fetch: Callable[..., str | None], model_id: str, *, revision: str | None, offline: bool) -> None:
    """The first of ``WEIGHT_CANDIDATES`` the hub (or, ``offline``, the cache) has, with an index's shards;
    ModelLoadError naming every file looked for when there is none."""
    for name in WEIGHT_CANDIDATES:
        path = fetch(name, required=False, uncached_is_missing=offline)
        if path is None:
            continue
        for shard in _shard_names(Path(path)) if name.endswith(".index.json") else ():
            fetch(shard, required=True)
        return
    looked_for = ", ".join(WEIGHT_CANDIDATES)
    if offline:
        raise ModelLoadError(
            f"none of the weight files of {model_id} ({_revision_text(revision)}) is in the local cache "
            f"({_cache()}; looked for {looked_for}) and the hub is not used (HF_HUB_OFFLINE=1 or unreachable): run "
            "once online to download them, point HF_HOME or HF_HUB_CACHE at a cache that has them, or pass a "
            f"local folder (config.json + weights) with --model{_preset_hint(model_id)}"
        )
    raise ModelLoadError(
        f"hub repository {model_id} ({_revision_text(revision)}) has none of {looked_for} (HTTP 404 for each; "
        "other weight files are not fetched): download it yourself and pass the local folder with --model"
    )


def _shard_names(index: Path) -> list[str]:
    """The shard files a sharded checkpoint's index names (its ``weight_map`` values), each a plain name."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise ModelLoadError(f"the sharded checkpoint index {index} is not a JSON object with a weight_map "
                             f"({type(error).__name__}): re-download it, or pass a local folder with --model") from None
    bad = [shard for shard in shards if not isinstance(shard, str) or "/" in shard or shard.startswith(".")]
    if bad or not shards:
        raise ModelLoadError(f"the sharded checkpoint index {index} names {bad or 'no'} shard files; expected "
                             "file names beside it: re-download it, or pass a local folder with --model")
    return shards


def _hub_file(model_id: str, filename: str, *, revision: str | None, required: bool,
              unreachable: OSError | None = None, uncached_is_missing: bool = False) -> str | None:
    """The cached path of ``filename`` (downloaded if needed; only looked up in the cache when the hub is
    ``unreachable``); None for a missing optional file (offline, with ``uncached_is_missing``: one not cached)."""
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(model_id, filename, revision=revision, local_files_only=unreachable is not None)
    except hub_errors.LocalEntryNotFoundError as error:  # not reachable (or offline) and not cached
        if not required and (uncached_is_missing or _known_missing(model_id, filename, revision=revision)):
            return None
        raise ModelLoadError(_not_fetched_message(model_id, filename, revision, unreachable or error)) from error
    except hub_errors.EntryNotFoundError:
        if required:
            raise ModelLoadError(
                f"hub repository {model_id} ({_revision_text(revision)}) has no {filename} (HTTP 404); it is not a "
                "transformers checkpoint, or the file has another name: pass a local folder with --model instead"
            ) from None
        return None
    except Exception as error:  # every other failure becomes a ModelLoadError naming its cause
        raise ModelLoadError(_hub_error_message(model_id, filename, revision, error)) from error


def _unreachable_hub() -> OSError | None:
    """Why the hub endpoint cannot be reached now (host name not resolved, connection refused, network
    unreachable, no answer within HF_HUB_ETAG_TIMEOUT), from one TCP connection; None when it answers, when
    HF_HUB_OFFLINE is set (the cache is read anyway) or behind a proxy."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or any(os.environ.get(name) for name in _PROXY_VARIABLES):
        return None
    address = urlsplit(constants.ENDPOINT)
    try:
        host, port = address.hostname, address.port or (443 if address.scheme == "https" else 80)
    except ValueError:  # a malformed port: huggingface_hub reports it
        return None
    if not host:
        return None
    try:
        with socket.create_connection((host, port), timeout=float(constants.HF_HUB_ETAG_TIMEOUT)):
            return None
    except OSError as error:
        return error


def _hub_error_message(model_id: str, filename: str, revision: str | None, error: Exception) -> str:
    from huggingface_hub import errors as hub_errors

    if isinstance(error, hub_errors.RevisionNotFoundError):
        return (f"hub repository {model_id} has no revision {revision!r} (HTTP 404); pass an existing branch, tag or "
                "commit with --revision, or leave it out for the default branch")
    if isinstance(error, hub_errors.GatedRepoError):
        return (f"hub repository {model_id} is gated: accept its conditions on its hub page, log in with "
                "`hf auth login` (or set HF_TOKEN), or pass a local folder with --model")
    if isinstance(error, (hub_errors.RepositoryNotFoundError, hub_errors.HFValidationError)):
        return (f"--model {model_id}: not a local folder and not a hub repository ({type(error).__name__}, HTTP 404 "
                "or 401); check the spelling, log in with `hf auth login` for a private repository, or pass a local "
                "folder")
    if isinstance(error, hub_errors.HfHubHTTPError) and error.response is not None:
        return (f"the hub at {_endpoint()} answered HTTP {error.response.status_code} for {filename} of {model_id} "
                f"({_one_line(error)}); retry later, check HF_ENDPOINT, or pass a local folder with --model")
    return _not_fetched_message(model_id, filename, revision, error)


def _not_fetched_message(model_id: str, filename: str, revision: str | None, error: BaseException) -> str:
    """What happened to the connection (offline, timeout, refused, dropped, other) and what to do about it."""
    kind, cause = _network_failure(error)
    what = f"{filename} of {model_id} ({_revision_text(revision)})"
    detail = f"{type(cause).__name__}: {_one_line(cause)}"
    alternatives = f"pass a local folder (config.json + weights) with --model{_preset_hint(model_id)}"
    if kind == "offline":
        return (f"HF_HUB_OFFLINE=1 is set and {what} is not in the local cache ({_cache()}): run once online to "
                f"download it, point HF_HOME or HF_HUB_CACHE at a cache that has it, or {alternatives}")
    if kind == "timeout":
        return (f"the hub at {_endpoint()} did not answer in time while fetching {what} ({detail}; limits "
                f"HF_HUB_ETAG_TIMEOUT={_timeout('ETAG')}s, HF_HUB_DOWNLOAD_TIMEOUT={_timeout('DOWNLOAD')}s): retry, "
                f"raise those limits on a slow network, or {alternatives}")
    if kind == "connect":
        return (f"cannot connect to the hub at {_endpoint()} to fetch {what} ({detail}; connection refused or host "
                f"unreachable) and it is not in the local cache ({_cache()}): check the network, proxy and "
                f"HF_ENDPOINT, or {alternatives}")
    if kind == "dropped":
        return (f"the connection to {_endpoint()} dropped while fetching {what} ({detail}): retry (a partial "
                f"download resumes from the cache), check the network, proxy and HF_ENDPOINT, or {alternatives}")
    return (f"cannot fetch {what} from the hub at {_endpoint()} ({detail}) and it is not in the local cache "
            f"({_cache()}): check HF_ENDPOINT and the network, or {alternatives}")


def _network_failure(error: BaseException) -> tuple[str | None, BaseException]:
    """How the connection failed, from the first error in the cause chain that says so (else None, ``error``)."""
    from huggingface_hub import constants

    seen: list[BaseException] = []
    link: BaseException | None = error
    while link is not None and all(link is not other for other in seen):
        seen.append(link)
        names = {cls.__name__ for cls in type(link).__mro__}
        for kind, markers in _NETWORK_FAILURES:
            if names & markers:
                return kind, link
        link = link.__cause__ or link.__context__
    return ("offline" if constants.HF_HUB_OFFLINE else None), seen[-1]


def _known_missing(model_id: str, filename: str, *, revision: str | None) -> bool:
    """True when the cache remembers that the hub had no ``filename`` (offline runs can then skip it)."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.file_download import _CACHED_NO_EXIST

    return try_to_load_from_cache(model_id, filename, revision=revision) is _CACHED_NO_EXIST


def _revision_text(revision: str | None) -> str:
    return "default branch" if revision is None else f"revision {revision!r}"


def _preset_hint(model_id: str) -> str:
    return f", or --random-init (a preset of {model_id} exists)" if presets.has_preset(model_id) else ""


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or "no details"


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _cache() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def _timeout(kind: str) -> str:
    from huggingface_hub import constants

    return str(getattr(constants, f"HF_HUB_{kind}_TIMEOUT", "?"))
