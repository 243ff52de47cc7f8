"""The hostile tests reuse the camera tests' tiny model and crowd clip."""

from tests.camera.conftest import crowd_clip, onnx_model, tiny_models  # noqa: F401
