"""How benchmarks run: worker processes (``runner``, ``worker``, ``serve``), interleaved rounds
(``interleave``), measurement (``measure``, ``sgemm``, ``preprocessing``, ``serving_load``), memory
(``memory``), the trained classifier's accuracy (``accuracy``) and the whole latency suite (``suite``)."""
