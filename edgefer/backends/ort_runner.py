"""ONNX Runtime backend for .onnx graphs (FP32, FP16 or Q/DQ INT8): CPU, or CUDA/TensorRT providers when present."""

from __future__ import annotations

import numpy as np

from edgefer.backends.base import Runner
from edgefer.backends.softmax import softmax
from edgefer.errors import EdgeferError

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class OnnxRuntimeRunner(Runner):
    backend = "onnxruntime"

    def __init__(self, path: str, providers: list[str] | None = None, threads: int | None = None) -> None:
        super().__init__(path)
        self.providers = providers
        self.threads = threads

    def activate(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeferError("onnxruntime is not installed: pip install 'edgefer[onnx]'") from None
        opts = ort.SessionOptions()
        if self.threads:
            opts.intra_op_num_threads = self.threads
            # idle pool threads sleep instead of spinning: in the camera loop they would starve the detector
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        available = ort.get_available_providers()
        providers = self.providers or [p for p in PREFERRED_PROVIDERS if p in available]
        try:
            self.session = ort.InferenceSession(self.path, opts, providers=providers)
        except Exception as e:  # ORT raises its own exception types for a bad graph
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise EdgeferError(f"{self.path}: ONNX Runtime cannot load this graph ({first})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1:
            raise EdgeferError(f"{self.path}: expected one input (faces), found {len(inputs)}")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        self.meta = {"providers": self.session.get_providers(), "input": inputs[0].name, "output": outputs[0].name}
        self.input_type = np.float16 if inputs[0].type == "tensor(float16)" else np.float32
        self.backend = f"onnxruntime:{self.session.get_providers()[0].replace('ExecutionProvider', '')}"
        self._check_contract(inputs[0])
        self.active = True

    def _check_contract(self, face_input) -> None:
        """(N, 1, 48, 48) float faces in, edgefer's classes out, finite (``edgefer.backends.contract``)."""
        from edgefer.backends import contract

        onnx_type = face_input.type.removeprefix("tensor(").removesuffix(")")
        contract.check_input(self.path, face_input.shape, {"float": "float32"}.get(onnx_type, onnx_type))
        k = contract.probe(self.path, self._logits, self.input_type)
        names, where = contract.onnx_class_names(self.path, self.session.get_modelmeta().custom_metadata_map)
        contract.check_classes(self.path, k, names, where)
        self.meta["classes"] = names or None

    def _logits(self, batch: np.ndarray) -> np.ndarray:
        (logits,) = self.session.run([self.output_name], {self.input_name: np.ascontiguousarray(batch, self.input_type)})
        return logits

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return softmax(self._logits(batch))
