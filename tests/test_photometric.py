import numpy as np
import pytest

from edgefer.photometric import CORRUPTIONS, DIM_GAIN, DIM_GAMMA, corrupt, random_photometric


@pytest.fixture
def faces():
    rng = np.random.default_rng(3)
    x = np.tile(np.linspace(20, 235, 48, dtype=np.float32), (4, 48, 1))  # a ramp: every grey level range
    return np.clip(x + rng.normal(0, 8, x.shape), 0, 255).round().astype(np.uint8)


def test_every_corruption_is_deterministic_under_a_seed_and_changes_the_faces(faces):
    for name in CORRUPTIONS:
        a, b = corrupt(faces, name, seed=5), corrupt(faces, name, seed=5)
        assert a.dtype == np.float32 and a.shape == faces.shape
        np.testing.assert_array_equal(a, b)
        assert np.abs(a - faces).mean() > 1.0, name
        assert a.min() >= 0 and a.max() <= 255 and np.all(a == np.rint(a)), name  # whole grey levels


def test_dim_is_gain_and_gamma_as_specified(faces):
    x = faces.astype(np.float64)
    expected = np.clip(np.rint(255 * DIM_GAIN * (x / 255) ** DIM_GAMMA), 0, 255)
    np.testing.assert_array_equal(corrupt(faces, "dim"), expected)
    assert corrupt(faces, "dim").mean() < 0.3 * faces.mean()  # a dark theatre: about 25 of 255 from ~128


def test_low_contrast_keeps_the_mean_and_shrinks_the_spread(faces):
    y = corrupt(faces, "low-contrast")
    assert abs(y.mean() - faces.mean()) < 1.0
    assert 0.3 < y.std() / faces.std() < 0.4


def test_blur_removes_detail_noise_adds_it_jpeg_is_lossy(faces):
    grad = lambda im: np.abs(np.diff(im.astype(np.float32), axis=-1)).mean()
    assert grad(corrupt(faces, "blur")) < 0.6 * grad(faces)
    noisy = corrupt(faces, "noise", seed=1)
    assert 8 < (noisy - faces).std() < 14  # sigma 12, clipped at the ends
    assert not np.array_equal(corrupt(faces, "noise", seed=1), corrupt(faces, "noise", seed=2))
    assert 0 < np.abs(corrupt(faces, "jpeg") - faces).mean() < 15


def test_unknown_corruption_is_refused(faces):
    with pytest.raises(ValueError, match="unknown corruption 'fog'"):
        corrupt(faces, "fog")


def test_random_photometric_is_seeded_and_varies_per_face(faces):
    a = random_photometric(faces, np.random.default_rng(0), p=1.0)
    b = random_photometric(faces, np.random.default_rng(0), p=1.0)
    np.testing.assert_array_equal(a, b)
    means = a.mean(axis=(1, 2))
    assert np.ptp(means) > 5  # each face gets its own gain and gamma
    np.testing.assert_array_equal(random_photometric(faces, np.random.default_rng(0), p=0.0), faces)
