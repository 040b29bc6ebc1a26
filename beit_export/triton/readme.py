"""The README.md written into each repository: what it holds, how to start it, how to call it.

The curl recipe between the ``curl-infer`` markers is run by the tests against a real server.
"""

from __future__ import annotations

from beit_runtime.triton.install import TRITON_VERSION

NGC_TAG = "24.10-py3"  # the NGC tritonserver release that carries Triton 2.51 (the version tested)
CLIENT_CLASSES = {"image-classification": ("RemoteClassifier", "classifier", 'classifier("cat.jpg", top_k=3)'),
                  "semantic-segmentation": ("RemoteSegmenter", "segmenter", 'segmenter("scene.png").labels'),
                  "backbone": ("RemoteFeatureExtractor", "extractor", 'extractor("cat.jpg")')}
TASK_OUTPUTS = {"image-classification": "`labels` (TYPE_STRING [k]), `scores` (FP32 [k], softmax), `class_ids` (INT32 [k]), best first",
                "semantic-segmentation": "`segmentation` (INT32 [H, W]: class ids at the image's own size)",
                "backbone": "`embedding` (FP32 [D], the pooled embedding)"}


def _models_table(record: dict) -> str:
    models, options = record["models"], record["options"]
    rows = [f"| `{models['ensemble']}` | ensemble: `image` (TYPE_STRING [1], one encoded JPEG/PNG/... per row) -> "
            f"{TASK_OUTPUTS[record['task']]} |"] if "ensemble" in models else []
    rows.append(f"| `{models['preprocess']}` | python: beit_runtime's `load_image` + `Preprocessor` from the artifact's manifest -> "
                "`pixel_values`, `original_size` |")
    rows.append(f"| `{models['engine']}` | the {options['precision']} graph on the `{options['model_backend']}` backend "
                f"({options['kind']}, {options['instances']} instance(s), max batch {options['max_batch_size']}) |")
    if "postprocess" in models:
        rows.append(f"| `{models['postprocess']}` | python: the runtime's post-processing (as `Classifier`/`Segmenter`/`FeatureExtractor`) |")
    return "\n".join(["| model | what |", "|---|---|", *rows])


def _call_section(record: dict) -> str:
    name, task = record["name"], record["task"]
    if task not in CLIENT_CLASSES:
        return (f"Masked image modeling is served engine-only: send `pixel_values` (from `{record['models']['preprocess']}`) "
                f"and `bool_masked_pos` to `{record['models']['engine']}`.\n")
    first = record["outputs"][0]
    header = ('{"inputs":[{"name":"image","shape":[1,1],"datatype":"BYTES","parameters":{"binary_data_size":\'$((N + 4))\'}}],'
              f'"outputs":[{{"name":"{first}","parameters":{{"binary_data":false}}}}]}}')
    remote, variable, call = CLIENT_CLASSES[task]
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
  curl -s http://127.0.0.1:8000/v2/models/{name}/infer -H "Inference-Header-Content-Length: ${{#HEADER}}" --data-binary @-
```
<!-- /curl-infer -->

tritonclient (`pip install "tritonclient[http]"`):

```python
import numpy as np
import tritonclient.http as httpclient

with httpclient.InferenceServerClient("127.0.0.1:8000") as client:
    image = httpclient.InferInput("image", [1, 1], "BYTES")
    image.set_data_from_numpy(np.array([[open("cat.jpg", "rb").read()]], dtype=object))
    result = client.infer("{name}", [image])
    print(result.as_numpy("{first}"))
```

beit_runtime's client (`pip install "beit-deploy[triton]"`), the call signature of the in-process class:

```python
from beit_runtime.triton import {remote}

with {remote}("127.0.0.1:8000", "{name}") as {variable}:      # or "grpc://127.0.0.1:8001"
    print({call})
```
"""


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

With a stock Triton (NGC container `nvcr.io/nvidia/tritonserver:{NGC_TAG}` or newer; add `--gpus all` for
GPU instances). The python models need these packages in the server's python (numpy<2: Triton 2.51's
python backend corrupts tensors silently under numpy 2, and the models refuse to load with it);
onnxruntime-gpu instead of onnxruntime for a python engine on GPU:

```bash
docker run --rm --shm-size=1g -p 8000:8000 -p 8001:8001 -v "$PWD/REPO:/models" nvcr.io/nvidia/tritonserver:{NGC_TAG} \\
  bash -c 'pip install {requirements} && tritonserver --model-repository=/models'
```

## Call it

{_call_section(record)}"""
