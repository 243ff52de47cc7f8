import numpy as np
import pytest
from PIL import Image

from edgefer.degrade import degrade, degrade_mixed, lr_size, parse_factors, resize, resize_matrix


def pil_resize(img: np.ndarray, size: int) -> np.ndarray:
    """The independent reference: PIL's antialiased bicubic, in float ('F' mode, no 8-bit rounding)."""
    return np.asarray(Image.fromarray(img.astype(np.float32), mode="F").resize((size, size), Image.BICUBIC))


@pytest.mark.parametrize("n_in,n_out", [(48, 24), (48, 16), (48, 12), (48, 10), (48, 7), (48, 6), (6, 48), (25, 48), (100, 48), (48, 48)])
def test_resize_matches_pil(n_in, n_out):
    img = np.random.default_rng(0).uniform(0, 255, (n_in, n_in))
    np.testing.assert_allclose(resize(img, n_out), pil_resize(img, n_out), atol=2e-3)


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 6, 7, 8])
def test_degrade_matches_pil_down_then_up(factor):
    img = np.random.default_rng(factor).uniform(0, 255, (48, 48))
    ref = pil_resize(pil_resize(img, round(48 / factor)), 48)
    np.testing.assert_allclose(degrade(img, factor), ref, atol=2e-3)


def test_factor_one_is_identity_and_batches_match_singles():
    batch = np.random.default_rng(1).uniform(0, 255, (5, 48, 48)).astype(np.float32)
    np.testing.assert_array_equal(degrade(batch, 1), batch)
    factors = np.array([1, 2, 4, 8, 2])
    mixed = degrade_mixed(batch, factors)
    for img, f, got in zip(batch, factors, mixed):
        np.testing.assert_allclose(got, degrade(img, f), atol=1e-4)


def test_degrade_loses_detail_as_factor_grows():
    img = np.random.default_rng(2).uniform(0, 255, (48, 48))
    errors = [np.abs(degrade(img, f) - img).mean() for f in (2, 4, 8)]
    assert errors[0] < errors[1] < errors[2]


def test_resize_rows_sum_to_one_and_sizes():
    assert np.allclose(resize_matrix(48, 7).sum(1), 1.0, atol=1e-6)
    assert [lr_size(48, f) for f in (1, 2, 3, 4, 6, 8)] == [48, 24, 16, 12, 8, 6]
    with pytest.raises(ValueError):
        lr_size(48, 0.5)


def test_parse_factors():
    assert parse_factors("1,2, 8") == (1, 2, 8)
    for bad in ("", "a,b", "0,2", "2.5"):
        with pytest.raises(ValueError):
            parse_factors(bad)
