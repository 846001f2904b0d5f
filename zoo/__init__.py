"""Accuracy regression suite for the AIMET quantized model zoo."""
