"""The README.md written into each repository: what it holds, how to start it, how to call it.

The curl recipe between the ``curl-infer`` markers is run by the tests against a real server.
"""

from __future__ import annotations

import re

from beit_runtime.device_input import FUSED_VARIANT
from beit_runtime.serving.install import TRITON_VERSION
from beit_runtime.serving_protocol import has_top_k
from beit_runtime.tasks import Task, task

NGC_TAG = "24.10-py3"  # the NGC tritonserver release that carries Triton 2.51 (the version tested)


def served_outputs_text(entry: Task) -> str:
    """The ensemble's outputs as the registry describes them: "`labels` (STRING [k]: class names, best first), ..."."""
    return ", ".join(f"`{t.name}` ({t.datatype} [{', '.join(t.dims)}]: {t.meaning})" for t in entry.served_outputs)


def client_call(entry: Task) -> tuple[str, str]:
    """(variable, call) for the README's client example: ``classifier``, ``classifier("cat.jpg", top_k=3)``."""
    variable = re.sub(r"(?<!^)(?=[A-Z])", "_", entry.runtime_class).lower()
    return variable, f'{variable}("cat.jpg"{", top_k=3" if has_top_k(entry) else ""})'


def _optional_outputs_text(record: dict, entry: Task) -> str:
    """"; on request: `hidden_states`, `attentions`" when the ensemble serves the artifact's optional outputs."""
    offered = [spec.name for spec in entry.optional_outputs if spec.name in record.get("outputs", ())]
    return f"; only when asked for by name: {', '.join(f'`{name}`' for name in offered)}" if offered else ""


def _models_table(record: dict) -> str:
    models, options, entry = record["models"], record["options"], task(record["task"])
    rows = [f"| `{models['ensemble']}` | ensemble: `image` (TYPE_STRING [1], one encoded JPEG/PNG/... per row) -> "
            f"{served_outputs_text(entry)}{_optional_outputs_text(record, entry)} |"] if "ensemble" in models else []
    rows.append(f"| `{models['preprocess']}` | python: beit_runtime's `load_image` + `Preprocessor` from the "
                "artifact's manifest -> `pixel_values`, `original_size` |")
    graph = FUSED_VARIANT if options.get("fused_attention") else options["precision"]
    rows.append(f"| `{models['engine']}` | the {graph} graph on the `{options['model_backend']}` "
                f"backend ({options['kind']}, {options['instances']} instance(s), "
                f"max batch {options['max_batch_size']}) |")
    if "postprocess" in models:
        rows.append(f"| `{models['postprocess']}` | python: the runtime's post-processing "
                    f"(as `{entry.runtime_class}`) |")
    return "\n".join(["| model | what |", "|---|---|", *rows])


def _curl_section(name: str, first_output: str) -> str:
    header = ('{"inputs":[{"name":"image","shape":[1,1],"datatype":"BYTES",'
              '"parameters":{"binary_data_size":\'$((N + 4))\'}}],'
              f'"outputs":[{{"name":"{first_output}","parameters":{{"binary_data":false}}}}]}}')
    return f"""```bash
curl -sf http://127.0.0.1:8000/v2/health/ready && echo ready
curl -s http://127.0.0.1:8000/v2/models/{name}/config
```

One image per request, in Triton's binary tensor format (a BYTES element is its 4-byte little-endian
length, then the bytes); the answer is JSON:

<!-- curl-infer -->
```bash
IMG=cat.jpg N=$(stat -c %s "$IMG")
HEADER='{header}'
{{ printf %s "$HEADER"; perl -e 'print pack("V", shift)' "$N"; cat "$IMG"; }} |
  curl -s http://127.0.0.1:8000/v2/models/{name}/infer \\
    -H "Inference-Header-Content-Length: ${{#HEADER}}" --data-binary @-
```
<!-- /curl-infer -->
"""


def _client_section(name: str, first_output: str, entry: Task) -> str:
    remote, (variable, call) = entry.remote_class, client_call(entry)
    return f"""tritonclient (`pip install "tritonclient[http]"`):

```python
import numpy as np
import tritonclient.http as httpclient

with httpclient.InferenceServerClient("127.0.0.1:8000") as client:
    image = httpclient.InferInput("image", [1, 1], "BYTES")
    image.set_data_from_numpy(np.array([[open("cat.jpg", "rb").read()]], dtype=object))
    result = client.infer("{name}", [image])
    print(result.as_numpy("{first_output}"))
```

beit_runtime's client (`pip install "beit-deploy[triton]"`), the call signature of the in-process class:

```python
from beit_runtime.remote import {remote}

with {remote}("127.0.0.1:8000", "{name}") as {variable}:      # or "grpc://127.0.0.1:8001"
    print({call})
```
"""


def _call_section(record: dict) -> str:
    name, entry = record["name"], task(record["task"])
    if not entry.served or entry.remote_class is None:
        others = "".join(f" and `{tensor}`" for tensor in entry.input_names[1:])
        return (f"The {entry.name} task is served engine-only: send `{entry.input_names[0]}` (from "
                f"`{record['models']['preprocess']}`){others} to `{record['models']['engine']}`.\n")
    first = record["outputs"][0]
    return f"{_curl_section(name, first)}\n{_client_section(name, first, entry)}"


def repository_readme(record: dict) -> str:
    requirements = " ".join(f'"{item}"' for item in record["python_backend_requirements"])
    return f"""# Triton model repository `{record['name']}`

Written by `beit-export triton` (beit-deploy {record['beit_deploy']}) from the {record['task']} artifact
`{record['artifact']['folder']}` (source `{record['artifact']['source'].get('model', '?')}`). `repository.json`
records the options. Each python model carries the beit_runtime that wrote the repository (in its
version folder, sha256 `{record['beit_runtime_sha256'][:16]}`), so serving needs only third-party packages.

{_models_table(record)}

## Start it

With beit-deploy's CPU server (Triton {TRITON_VERSION}, python backend; `--setup` once, from PyPI):

```bash
pip install "beit-deploy[triton]" && beit-serve --setup
beit-serve REPO --http-port 8000 --grpc-port 8001          # prints "beit-serve: ready ..." ; Ctrl-C stops it
```

In a container (Docker, Kubernetes): not a stock NGC `nvcr.io/nvidia/tritonserver:{NGC_TAG}`. Its python is 3.10,
and the python models' pinned onnxruntime and Pillow (in `repository.json`) have no 3.10 wheels (an older Pillow
computes downscales differently, so the served answers would change). Export this repository again with
`--kubernetes DIR` added: DIR is a docker build context from that NGC image with python 3.11, those packages and
the matching python backend stub, `beit-serve` as its entry point (SIGTERM drains), and DIR/README.md says how to
build and run it. (A Triton of your own whose python backend runs python 3.11 needs `pip install {requirements}`
in that python: numpy<2, since Triton 2.51's python backend corrupts tensors under numpy 2 and the models refuse
to load with it.)

```bash
beit-export triton ARTIFACT --output REPO --kubernetes DIR --image beit/{record['name']}:1   # + the options used here
docker build -t beit/{record['name']}:1 DIR
docker run --rm --shm-size=256m -p 8000:8000 -p 8001:8001 beit/{record['name']}:1
```

## Call it

{_call_section(record)}"""
