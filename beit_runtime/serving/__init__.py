"""The operator's tooling: the ``beit-serve`` command (``server``), which sets up (``install``, ``--setup``)
and runs (``launcher``) a Triton Inference Server on repositories written by ``beit-export triton``.

Standard library only (no tritonclient): ``launcher`` probes readiness over plain HTTP. The clients
are ``beit_runtime.remote``; the code that runs inside the server is ``beit_runtime.triton_models``.
"""
