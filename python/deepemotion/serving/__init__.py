"""Serving many cameras from one machine on NVIDIA Triton Inference Server -- not a server of our own:

    serving/repository.py        model repositories in every form (python | onnx | tensorrt): config.pbtxt + files
    serving/triton_models/       the python-form models Triton runs (faces -> probabilities; frames -> faces)
    serving/server.py            the pip-shipped tritonserver (nvidia-pytriton) started, checked and stopped cleanly
    runtime/backends/triton.py   the client: Recognizer(backend="triton", url=...)

``fer-serve`` runs a server, ``fer-export triton`` writes a repository, ``fer-bench --serve`` measures it. Needs
``pip install "deepemotion[serve]"`` (the server) or ``[client]`` (a robot that only sends faces).
"""
