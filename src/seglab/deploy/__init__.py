"""Trained networks outside Lightning: the exported graph's formats (ONNX, TorchScript),
its metadata, the sizes it accepts, and ONNX Runtime inference for ``seglab-predict``."""
