"""The python-backend models of a repository written by ``beit-export triton``: code that runs inside Triton.

Each repository model's ``model.py`` puts the beit_runtime copied beside it first on ``sys.path`` and
re-exports one ``TritonPythonModel`` from here: ``preprocess`` (encoded image -> pixel_values),
``engine`` (the artifact's graph through beit_runtime's own task class, for Triton builds without
the onnxruntime backend) and ``postprocess`` (the task classes' own post-processing functions).
These modules import ``triton_python_backend_utils``, which exists only inside Triton's python stub;
the names they share with the repository writer and the clients are in ``beit_runtime.serving_protocol``.
"""
