"""Deployment artifacts: ONNX export with checks, calibration sets and INT8 (Q/DQ) graphs."""
