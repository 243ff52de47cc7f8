"""Hostile datasets: FIFOs and folders named like images, label files that are not UTF-8."""

from __future__ import annotations

import os
import threading

import cv2
import pytest
from typer.testing import CliRunner

from edgefer.cli.main import app
from edgefer.data import load_dataset
from edgefer.errors import DataError
from tests.conftest import synthetic_faces

runner = CliRunner()


def load_within(seconds, *args):
    """load_dataset on a thread: a hang (a FIFO opened for reading) fails the test instead of blocking it."""
    box = {}

    def run():
        try:
            box["faces"] = load_dataset(*args)
        except Exception as e:  # noqa: BLE001 - handed to the test
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "load_dataset hung"
    if "error" in box:
        raise box["error"]
    return box["faces"]


def write_folders(root):
    images, labels = synthetic_faces(8)
    for cls in ("happy", "sad"):
        d = root / "val" / cls
        d.mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(d / f"{i}.png"), images[i])
    return root


def test_a_fifo_named_like_an_image_is_skipped(tmp_path):
    root = write_folders(tmp_path / "ds")
    os.mkfifo(root / "val" / "happy" / "x.png")
    (root / "val" / "sad" / "y.jpg").mkdir()
    faces = load_within(30, root, "val")
    assert len(faces) == 8 and sorted(os.path.basename(s) for s in faces.skipped) == ["x.png", "y.jpg"]


def test_a_fifo_in_ferplus_is_skipped(ferplus_tiny):
    name = (ferplus_tiny / "FER2013Valid" / "label.csv").read_text().splitlines()[0].split(",")[0]
    (ferplus_tiny / "FER2013Valid" / name).unlink()
    os.mkfifo(ferplus_tiny / "FER2013Valid" / name)
    faces = load_within(30, ferplus_tiny, "val")
    assert len(faces) == 23 and faces.skipped[0].endswith(name)


def test_non_utf8_ferplus_labels(ferplus_tiny):
    label = ferplus_tiny / "FER2013Valid" / "label.csv"
    lines = label.read_bytes().splitlines(keepends=True)
    label.write_bytes(b"".join(lines[:3]) + b"caf\xe9.png,(0, 0, 48, 48),1,0,0,0,0,0,0,0,0,0\n" + b"".join(lines[3:]))
    with pytest.raises(DataError, match=r"label\.csv:4: not UTF-8"):
        load_dataset(ferplus_tiny, "val")
    r = runner.invoke(app, ["eval", "--model", "edgefer/weights/fsrfer.onnx", "--data", str(ferplus_tiny), "--split", "val"])
    assert r.exit_code == 2 and "not UTF-8" in r.output and r.output.count("error:") == 1, r.output


def test_a_label_file_that_is_a_fifo(ferplus_tiny):
    label = ferplus_tiny / "FER2013Valid" / "label.csv"
    label.unlink()
    os.mkfifo(label)
    with pytest.raises(DataError, match="label.csv"):
        load_within(30, ferplus_tiny, "val")


def test_non_utf8_kaggle_csv(tmp_path):
    csv = tmp_path / "fer2013.csv"
    csv.write_bytes(b"emotion,pixels,Usage\n0," + b" ".join([b"1"] * 2304) + b",PublicTest\n3,\xff\xfe,PublicTest\n")
    with pytest.raises(DataError, match=r"fer2013\.csv:3: not UTF-8"):
        load_dataset(csv, "val")


def test_non_utf8_rafdb_labels(tmp_path):
    (tmp_path / "EmoLabel").mkdir()
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_bytes(b"test_0001.jpg 1\ntest_\xe9.jpg 2\n")
    with pytest.raises(DataError, match="list_patition_label.txt:2: not UTF-8"):
        load_dataset(tmp_path, "test")
