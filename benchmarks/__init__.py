"""beit-deploy's benchmarks. Entry points (``python -m benchmarks.NAME``, or ``python benchmarks/NAME.py``):
``latency``, ``serving``, ``preprocess_bench``, ``gpu_reference``, ``segmentation_640_check``, and
``report`` (``--readme``). Rooms: ``workload`` (jobs, models, photos, FLOPs, machine), ``backends`` (the
rows), ``harness`` (workers, interleaving, measurement, memory) and ``report`` (ratios, analysis, tables,
plots, README figures)."""
