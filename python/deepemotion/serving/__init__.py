"""Serving many cameras from one machine on NVIDIA Triton Inference Server -- not a server of our own:

    serving/repository.py        model repositories in every form (python | onnx | tensorrt): config.pbtxt + files
    serving/triton_models/       the python-form models Triton runs (faces -> probabilities; frames -> faces)
    serving/server.py            the pip-shipped tritonserver (nvidia-pytriton) started, checked and stopped cleanly
    serving/gate.py              the HTTP gate in front of it: only inference and health, every request checked
    runtime/backends/triton.py   the client: Recognizer(backend="triton", url=...)

``fer-serve`` runs a server, ``fer-export triton`` writes a repository, ``fer-bench --serve`` measures it. Needs
the ``serve`` extra and the server wheel (``pip install ".[serve]"`` in a checkout, then ``pip install --no-deps
"nvidia-pytriton==0.7.0"``), or the ``client`` extra alone on a robot that only sends faces (docs/serving.md).
"""
