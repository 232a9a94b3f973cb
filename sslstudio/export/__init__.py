"""ONNX, torch.export and safetensors exports with a model card (no Qt)."""
