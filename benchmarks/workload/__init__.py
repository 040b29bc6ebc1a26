"""What is measured, and where: jobs as plain data (``jobs``), prepared models (``prepare``, ``tiny``),
their FLOPs (``flops``), sample photos (``photos``) and the machine (``machine``)."""
