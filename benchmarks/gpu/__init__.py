"""The GPU room (issue 21): ONNX Runtime's CUDA provider measured beside PyTorch on a lent GPU machine.

``prepare`` (here) bundles what the GPU machine lacks (the onnxruntime-gpu wheel, the pinned
transformers wheel) into parts small enough to travel; ``device.sh`` (there) reassembles and installs
them, exports the artifacts with the exporter and runs ``measure``, which writes one JSON of rows;
``report`` turns that JSON into the RESULTS.md section. ``measure --dry-run`` runs every code path
that does not need CUDA on the CPU provider with a tiny artifact, so the script is tested here.
"""
