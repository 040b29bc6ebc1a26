"""Checkpoints from the Hugging Face hub (or its local cache) through ``huggingface_hub``.

``download_checkpoint(model_id)`` fetches config.json, preprocessor_config.json and the weights
(model.safetensors, else pytorch_model.bin) into the HF cache and returns the snapshot folder and
the commit it resolved to. Offline (or ``HF_HUB_OFFLINE=1``) it works from the cache; a cache miss,
an unknown repository or revision become ``ModelLoadError`` naming what to pass instead.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ModelLoadError
from . import presets


def download_checkpoint(model_id: str, *, revision: str | None = None, weights: bool = True) -> tuple[Path, str | None]:
    """Fetch config (+ preprocessor config, + weights) from the hub or its cache; returns (folder, commit)."""
    config_path = Path(_hub_file(model_id, "config.json", revision=revision, required=True))
    _hub_file(model_id, "preprocessor_config.json", revision=revision, required=False)
    if weights and _hub_file(model_id, "model.safetensors", revision=revision, required=False) is None:
        _hub_file(model_id, "pytorch_model.bin", revision=revision, required=True)
    return config_path.parent, config_path.parent.name


def _hub_file(model_id: str, filename: str, *, revision: str | None, required: bool) -> str | None:
    """The cached path of ``filename`` (downloaded if needed); None for a missing optional file."""
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(model_id, filename, revision=revision)
    except hub_errors.LocalEntryNotFoundError as error:
        if not required and _known_missing(model_id, filename, revision=revision):
            return None
        raise ModelLoadError(_unreachable_message(model_id, filename, error)) from error
    except hub_errors.EntryNotFoundError:
        if required:
            raise ModelLoadError(
                f"hub repository {model_id} has no {filename} (HTTP 404); it is not a transformers checkpoint, "
                "or the file has another name: pass a local folder with --model instead"
            ) from None
        return None
    except hub_errors.RevisionNotFoundError as error:
        raise ModelLoadError(
            f"hub repository {model_id} has no revision {revision!r} (HTTP 404); pass an existing branch, tag or "
            "commit with --revision, or leave it out for the default branch"
        ) from error
    except (hub_errors.RepositoryNotFoundError, hub_errors.HFValidationError) as error:
        raise ModelLoadError(
            f"--model {model_id}: not a local folder and not a hub repository ({type(error).__name__}, HTTP 404 or "
            "401); check the spelling, log in with `hf auth login` for a private repository, or pass a local folder"
        ) from error
    except Exception as error:  # the connection dropped mid-answer, a 5xx, a broken proxy: httpx/OS errors
        raise ModelLoadError(
            f"downloading {filename} of {model_id!r} from {_endpoint()} failed ({type(error).__name__}: "
            f"{str(error)[:200] or 'no details'}); check the network or HF_ENDPOINT and retry, or pass a local folder"
        ) from error


def _known_missing(model_id: str, filename: str, *, revision: str | None) -> bool:
    """True when the cache remembers that the hub had no ``filename`` (offline runs can then skip it)."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.file_download import _CACHED_NO_EXIST

    return try_to_load_from_cache(model_id, filename, revision=revision) is _CACHED_NO_EXIST


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _unreachable_message(model_id: str, filename: str, error: Exception) -> str:
    cause = error.__cause__ or error.__context__
    why = f" ({type(cause).__name__}: {str(cause)[:160]})" if cause is not None else ""
    hint = f", or `--model {model_id} --random-init` (a preset exists)" if presets.has_preset(model_id) else ""
    return (
        f"cannot fetch {filename} of {model_id!r}: the Hugging Face hub at {_endpoint()} is unreachable{why} (or "
        f"HF_HUB_OFFLINE=1) and it is not in the local cache. Pass a local folder (config.json + weights) with "
        f"--model{hint}, or use --random-init with a preset ({', '.join(presets.preset_names())})"
    )
