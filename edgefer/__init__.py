"""edgefer: facial-expression recognition on small, low-resolution faces (FSR-FER)."""

__version__ = "0.1.0"
