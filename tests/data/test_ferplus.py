import numpy as np
import pytest

from edgefer.data import load_dataset
from edgefer.data.ferplus import majority_label
from edgefer.errors import DataError


@pytest.mark.parametrize(
    "votes,expected",
    [
        ([6, 0, 1, 1, 0, 0, 0, 0, 2, 0], 0),  # singles dropped: 6 of 8
        ([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], None),  # 4 of 9: no majority
        ([0, 0, 0, 0, 0, 0, 0, 0, 10, 0], None),  # unknown
        ([0, 0, 0, 0, 0, 0, 0, 0, 2, 8], None),  # not a face
        ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], None),  # all singles
        ([0, 0, 0, 0, 0, 0, 0, 5, 0, 5], None),  # tie is not a majority
        ([0, 0, 0, 0, 0, 0, 0, 6, 0, 4], 7),  # contempt
    ],
)
def test_majority_vote(votes, expected):
    assert majority_label([float(v) for v in votes]) == expected


def test_tiny_copy_loads(ferplus_tiny):
    train = load_dataset(ferplus_tiny, "train")
    assert train.layout == "ferplus" and len(train) == 64 and train.images.shape == (64, 48, 48)
    assert train.images.dtype == np.uint8 and set(train.labels.tolist()) == set(range(8))


def test_missing_label_file_and_split(ferplus_tiny):
    (ferplus_tiny / "FER2013Valid" / "label.csv").unlink()
    with pytest.raises(DataError, match="missing FER\\+ label file"):
        load_dataset(ferplus_tiny, "val")
    with pytest.raises(DataError, match="this copy has: train, val"):
        load_dataset(ferplus_tiny, "test")


def test_corrupt_image_is_skipped_and_counted(ferplus_tiny, caplog):
    (ferplus_tiny / "FER2013Train" / "fer0000003.png").write_bytes(b"not a png")
    (ferplus_tiny / "FER2013Train" / "fer0000005.png").unlink()
    train = load_dataset(ferplus_tiny, "train")
    assert len(train) == 62 and len(train.skipped) == 2
    assert "fer0000003.png" in caplog.text and "skipped 2 unreadable" in caplog.text


def test_bad_votes_is_one_line_error(ferplus_tiny):
    (ferplus_tiny / "FER2013Valid" / "label.csv").write_text("a.png,(0,0,48,48),x,0,0,0,0,0,0,0,0,0\n")
    with pytest.raises(DataError, match=r"label.csv:1: vote counts must be numbers"):
        load_dataset(ferplus_tiny, "val")


@pytest.mark.slow
def test_real_ferplus_majority_counts(ferplus_real):
    """The FER+ paper's majority-vote counts: 25,045 training and 3,191 validation faces."""
    assert len(load_dataset(ferplus_real, "val")) == 3191
    train = load_dataset(ferplus_real, "train")
    assert len(train) == 25045 and not train.skipped
