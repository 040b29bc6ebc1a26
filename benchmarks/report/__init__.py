"""What a run's figures mean and how they are shown: per-round ratios (``beit_runtime.planning.timing``, the one
definition), derived figures and goals (``analysis``), tables and Markdown (``tables``, ``serving``), the latency plot
(``plot``) and README's figures (``readme``; ``python -m benchmarks.report --readme``)."""
