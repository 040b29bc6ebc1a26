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
    from huggingface_hub import errors as hub_errors
    from huggingface_hub import hf_hub_download

    try:
        return hf_hub_download(model_id, filename, revision=revision)
    except hub_errors.LocalEntryNotFoundError as error:
        hint = f", or `--model {model_id} --random-init` (a preset exists)" if presets.has_preset(model_id) else ""
        raise ModelLoadError(
            f"cannot fetch {filename} of {model_id!r}: the Hugging Face hub is unreachable (or HF_HUB_OFFLINE=1) and "
            f"it is not in the local cache. Pass a local folder (config.json + weights) with --model{hint}, "
            f"or use --random-init with a preset ({', '.join(presets.preset_names())})"
        ) from error
    except hub_errors.EntryNotFoundError:
        if required:
            raise ModelLoadError(f"hub repository {model_id} has no {filename}; it is not a transformers checkpoint")
        return None
    except (hub_errors.RepositoryNotFoundError, hub_errors.RevisionNotFoundError, hub_errors.HFValidationError) as error:
        raise ModelLoadError(
            f"--model {model_id}: not a local folder and not a hub repository/revision ({type(error).__name__}); "
            "check the spelling, or pass a local Hugging Face folder"
        ) from error
