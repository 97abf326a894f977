"""The GPU inference server behind a SageMaker real-time endpoint: bgremove's models over the wire format.

See ``containers/inference/README.md`` for the contract, the settings and how to build the image.
"""
