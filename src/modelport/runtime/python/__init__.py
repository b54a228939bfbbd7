"""Triton's Python backend: ``backend: "python"`` models, ``<version>/model.py`` defining
``TritonPythonModel``.

Each instance runs in a stub process of its own, as in Triton, so a crash, a hang or a leak in
model code never reaches the server::

    server process                                   stub process (one per instance)
    PythonInstance (instance.py)                     stub.py: loads model.py, runs
      StubProcess (process.py) ── socket: framed ──>   initialize / execute / finalize
        messages, pickled (wire.py)        <──────   pb_utils: the API model.py imports
      two shared memory regions (shm.py): large tensors are written once and read in place

Requests reach ``execute`` one by one (``run_requests``), decoupled models answer through a
sink, and BLS calls come back to the server's pipeline (``RuntimeSettings.models``).
Nothing here is imported by ``import modelport``; the stub imports only numpy and this package.
"""
