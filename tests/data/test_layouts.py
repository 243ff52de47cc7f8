"""Kaggle fer2013.csv, RAF-DB basic and class folders, plus layout detection and its errors."""

import csv

import cv2
import pytest

from edgefer.data import detect_layout, load_dataset
from edgefer.errors import DataError
from tests.conftest import synthetic_faces


def write_kaggle(path, n=30):
    images, _ = synthetic_faces(n)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, img in enumerate(images):
            w.writerow([i % 7, " ".join(map(str, img.flatten())), ("Training", "PublicTest", "PrivateTest")[i % 3]])
    return path


def test_kaggle_csv_splits_and_label_mapping(tmp_path):
    write_kaggle(tmp_path / "fer2013.csv")
    assert detect_layout(tmp_path) == "kaggle"
    train = load_dataset(tmp_path, "train")
    assert len(train) == 10 and train.images.shape == (10, 48, 48)
    # rows 0, 3, 6 ... have Kaggle labels 0 angry, 3 happy, 6 neutral, 2 fear, ...
    assert train.labels[:3].tolist() == [4, 1, 0]
    assert len(load_dataset(tmp_path / "fer2013.csv", "test")) == 10


def test_kaggle_bad_row_is_skipped(tmp_path):
    path = write_kaggle(tmp_path / "fer2013.csv", 6)
    with open(path, "a") as fh:
        fh.write("3,1 2 3,Training\n")
    train = load_dataset(tmp_path, "train")
    assert len(train) == 2 and len(train.skipped) == 1


def test_kaggle_missing_column(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,Usage\n0,Training\n")
    with pytest.raises(DataError, match="missing column"):
        load_dataset(tmp_path, "train")


def test_rafdb(tmp_path):
    images, _ = synthetic_faces(6, size=100)
    (tmp_path / "EmoLabel").mkdir()
    aligned = tmp_path / "Image" / "aligned"
    aligned.mkdir(parents=True)
    lines = []
    for i, img in enumerate(images):
        split = "train" if i < 4 else "test"
        name = f"{split}_{i:05d}.jpg"
        cv2.imwrite(str(aligned / f"{split}_{i:05d}_aligned.jpg"), cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))
        lines.append(f"{name} {i % 7 + 1}")
    (tmp_path / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    assert detect_layout(tmp_path) == "rafdb"
    train = load_dataset(tmp_path, "train")
    assert len(train) == 4 and train.images.shape == (4, 48, 48)
    assert train.labels.tolist() == [2, 6, 5, 1]  # surprise, fear, disgust, happiness
    with pytest.raises(DataError, match="no validation split"):
        load_dataset(tmp_path, "val")


def _write_class_folder(folder, names, n=3):
    images, _ = synthetic_faces(n * len(names))
    for j, name in enumerate(names):
        (folder / name).mkdir(parents=True)
        for i in range(n):
            cv2.imwrite(str(folder / name / f"{i}.png"), images[j * n + i])


def test_folders_with_splits_and_synonyms(tmp_path):
    _write_class_folder(tmp_path / "train", ["happy", "Sad", "angry"])
    _write_class_folder(tmp_path / "test", ["surprised"], n=2)
    assert detect_layout(tmp_path) == "folders"
    train = load_dataset(tmp_path, "train")
    assert sorted(set(train.labels.tolist())) == [1, 3, 4] and len(train) == 9
    assert len(load_dataset(tmp_path, "test")) == 2
    assert len(load_dataset(tmp_path, "all")) == 11
    with pytest.raises(DataError, match="no folder for --split val"):
        load_dataset(tmp_path, "val")


def test_flat_class_folders_serve_any_split(tmp_path):
    _write_class_folder(tmp_path, ["happiness", "neutral"])
    assert len(load_dataset(tmp_path, "test")) == 6


def test_unknown_class_name(tmp_path):
    _write_class_folder(tmp_path / "train", ["happy", "bored"])
    with pytest.raises(DataError, match="unknown class name 'bored'"):
        load_dataset(tmp_path, "train")


def test_unknown_layout_empty_split_missing_path(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match="unknown dataset layout"):
        load_dataset(tmp_path, "train")
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope", "train")
    (tmp_path / "train" / "happy").mkdir(parents=True)
    (tmp_path / "train" / "happy" / "a.png").write_bytes(b"broken")
    with pytest.raises(DataError, match="holds no faces"):
        load_dataset(tmp_path, "train")
    with pytest.raises(DataError, match="unknown split"):
        load_dataset(tmp_path, "dev")


def test_errors_are_one_line(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset(tmp_path, "train")
    assert "\n" not in str(info.value)
