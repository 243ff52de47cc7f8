"""edgefer: facial-expression recognition on small, low-resolution faces (FSR-FER)."""

__version__ = "0.1.0"

__all__ = ["FaceAnalyzer", "__version__"]


def __getattr__(name: str):
    # lazy: `import edgefer` (every CLI start) stays light; only `edgefer.FaceAnalyzer` pulls in numpy and cv2
    if name == "FaceAnalyzer":
        from edgefer.api import FaceAnalyzer

        return FaceAnalyzer
    raise AttributeError(f"module 'edgefer' has no attribute {name!r}")
