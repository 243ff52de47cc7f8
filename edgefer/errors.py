"""User-facing errors: the CLI prints ``error: <message>`` on one line and exits non-zero."""


class EdgeferError(Exception):
    """A problem with the user's input (a file, a flag, a dataset), told in one line."""


class DataError(EdgeferError):
    """A dataset that cannot be read as asked."""


class CheckpointError(EdgeferError):
    """A file that is not a usable edgefer checkpoint."""
