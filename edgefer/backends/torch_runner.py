"""PyTorch backend for .pt checkpoints (the workstation path; never imported on the Jetson)."""

from __future__ import annotations

import numpy as np

from edgefer.backends.base import Runner


class TorchRunner(Runner):
    backend = "torch"

    def __init__(self, path: str, half: bool = False, threads: int | None = None) -> None:
        super().__init__(path)
        self.half = half
        self.threads = threads

    def activate(self) -> None:
        import torch

        from edgefer.checkpoint import load_classifier

        if self.threads:
            torch.set_num_threads(self.threads)
        self.model, ckpt = load_classifier(self.path)
        self._check_contract(ckpt)
        self.meta = {k: ckpt[k] for k in ("kind", "classes", "input", "metrics", "command", "abstain") if k in ckpt}
        if self.half:  # IEEE float16 weights and activations, as an FP16 engine would run them
            self.model = self.model.half()
            self.backend = "torch-fp16"
        self.active = True

    def _check_contract(self, ckpt: dict) -> None:
        """Finite weights, (N, 1, 48, 48) faces in, edgefer's classes out (``edgefer.backends.contract``)."""
        import torch

        from edgefer.backends import contract

        contract.check_finite(self.path, ((k, v.detach().float().numpy()) for k, v in self.model.state_dict().items()
                                          if torch.is_floating_point(v)))
        with torch.inference_mode():
            k = contract.probe(self.path, lambda x: self.model(torch.from_numpy(x)).float().numpy())
        contract.check_classes(self.path, k, ckpt.get("classes"), "the checkpoint")

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        dtype = next(self.model.parameters()).dtype
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(dtype)
            return torch.softmax(self.model(x).float(), dim=1).numpy()
