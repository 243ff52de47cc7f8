import cv2
import numpy as np
import pytest

from edgefer.preprocess import INPUT_SIZE, preprocess_face, preprocess_faces, square_box, to_grey


def test_grey_matches_opencv():
    bgr = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    np.testing.assert_allclose(to_grey(bgr), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), atol=1.0)


def test_batch_shape_range_and_single_face_agree():
    crops = [np.full((17, 17), 300.0), np.zeros((60, 60, 3), np.uint8), np.ones((48, 48), np.uint8) * 7]
    batch = preprocess_faces(crops)
    assert batch.shape == (3, 1, INPUT_SIZE, INPUT_SIZE) and batch.dtype == np.float32
    assert batch.max() <= 255.0 and batch.min() >= 0.0
    np.testing.assert_array_equal(batch[2, 0], preprocess_face(crops[2]))


def test_bad_image_shape():
    with pytest.raises(ValueError, match="shape"):
        to_grey(np.zeros((4, 4, 2)))


def test_square_box_is_square_inside_and_clipped():
    assert square_box((10, 20, 20, 30), 0.0, (100, 100)) == (5, 20, 35, 50)
    x0, y0, x1, y1 = square_box((0, 0, 20, 20), 0.25, (100, 100))
    assert (x0, y0) == (0, 0) and x1 == 25 and y1 == 25


def test_batch_preprocessing_is_each_face_preprocessed():
    """preprocess_faces groups crops by shape for speed; the result must be preprocess_face's, face for face."""
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (int(s), int(s) + k % 2, 3)).astype(np.uint8) for k, s in enumerate(rng.integers(9, 30, 60))]
    crops.append(rng.integers(0, 256, (17, 23)).astype(np.uint8))  # grey crops mix in
    crops += [rng.integers(0, 256, (90, 90, 3)).astype(np.uint8) for _ in range(2)]  # large crops go one by one
    batch = preprocess_faces(crops)
    assert batch.shape == (63, 1, 48, 48)
    np.testing.assert_array_equal(batch[:, 0], np.stack([preprocess_face(c) for c in crops]))
