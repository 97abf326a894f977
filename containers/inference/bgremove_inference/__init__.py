"""A stand-in for Triton on SageMaker (KServe v2, dynamic batching, ONNX Runtime on CPU), for local runs.

See ``containers/inference/README.md``: what it serves, how it matches Triton, why it is not Triton itself.
"""
