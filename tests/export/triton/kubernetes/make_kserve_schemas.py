"""Regenerate ``kserve_schemas.json``: the openAPIV3Schema of KServe's InferenceService and ServingRuntime
CRDs, trimmed to what the written manifests use (kubernetes-validate bundles no CRD schemas).

    python tests/export/triton/kubernetes/make_kserve_schemas.py KSERVE_CHECKOUT COMMIT

Trimming keeps, at every object level the manifests reach, every property *name* of the CRD (so a
misspelt or unknown field is still an error: ``additionalProperties: false`` is added, as
``kubectl apply --validate=strict`` would refuse it), recurses into the properties the manifests use
(types, enums, formats, required), and replaces the schemas of unused properties by ``{}``.
``x-kubernetes-int-or-string`` becomes ``anyOf: [integer, string]``; descriptions are dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from beit_export.triton.kubernetes import KubernetesOptions, manifests

CRDS = {"InferenceService": "config/crd/full/serving.kserve.io_inferenceservices.yaml",
        "ServingRuntime": "config/crd/full/serving.kserve.io_servingruntimes.yaml"}
OUTPUT = Path(__file__).with_name("kserve_schemas.json")
_KEEP = ("type", "enum", "format", "pattern", "required", "minimum", "maximum", "minLength", "maxLength", "minItems",
         "maxItems", "x-kubernetes-preserve-unknown-fields")


def trim(schema: dict[str, Any], used: Any) -> dict[str, Any]:
    """``schema`` reduced to what ``used`` (a sample value, or values merged) reaches."""
    out: dict[str, Any] = {key: schema[key] for key in _KEEP if key in schema}
    if schema.get("x-kubernetes-int-or-string"):
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in schema:
        out["properties"] = {name: trim(sub, used.get(name)) if isinstance(used, dict) and name in used else {}
                             for name, sub in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    elif isinstance(schema.get("additionalProperties"), dict):
        values = list(used.values()) if isinstance(used, dict) else []
        out["additionalProperties"] = trim(schema["additionalProperties"], _merge(values))
    if "items" in schema:
        out["items"] = trim(schema["items"], _merge(used if isinstance(used, list) else []))
    return out


def _merge(values: list[Any]) -> Any:
    """One sample with every key any of ``values`` has (dicts), or the first value."""
    if values and all(isinstance(value, dict) for value in values):
        merged: dict[str, Any] = {}
        for value in values:
            for key, item in value.items():
                merged[key] = _merge([merged[key], item]) if key in merged else item
        return merged
    if values and all(isinstance(value, list) for value in values):
        return [item for value in values for item in value]
    return values[0] if values else None


def samples() -> dict[str, Any]:
    documents = manifests(KubernetesOptions(namespace="ml", memory_request_mib=512), name="sample", memory=None)
    return {document["kind"]: document for document in documents.values()}


def main(checkout: str, commit: str) -> None:
    used = samples()
    result: dict[str, Any] = {"source": {"repository": "kserve/kserve", "commit": commit, "files": CRDS}}
    for kind, path in CRDS.items():
        text = subprocess.run(["git", "--git-dir", checkout, "show", f"{commit}:{path}"], check=True,
                              capture_output=True, text=True).stdout
        crd = yaml.safe_load(text)
        version = crd["spec"]["versions"][0]
        result[kind] = {"apiVersion": f"{crd['spec']['group']}/{version['name']}",
                        "schema": trim(version["schema"]["openAPIV3Schema"], used[kind])}
    OUTPUT.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(*sys.argv[1:3])
