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
        self.meta = {k: ckpt[k] for k in ("kind", "classes", "input", "metrics", "command", "abstain") if k in ckpt}
        if self.half:  # IEEE float16 weights and activations, as an FP16 engine would run them
            self.model = self.model.half()
            self.backend = "torch-fp16"
        self.active = True

    def infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        dtype = next(self.model.parameters()).dtype
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(dtype)
            return torch.softmax(self.model(x).float(), dim=1).numpy()
