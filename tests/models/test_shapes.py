"""Each model's shapes are the ones its docstring states."""

import pytest
import torch

from edgefer.models.composed import FSRFER, SRThenFER
from edgefer.models.discriminator import Discriminator
from edgefer.models.fer import FERNet
from edgefer.models.generator import Generator
from edgefer.models.sr import SRNet


def test_fernet_split():
    m = FERNet().eval()
    x = torch.rand(2, 1, 48, 48) * 255
    f = m.features(x)
    assert f.shape == (2, 128, 6, 6) and (f >= 0).all()
    assert m.head.embed(f).shape == (2, 128)
    torch.testing.assert_close(m(x), m.head(f))


@pytest.mark.parametrize("px, side", [(16, 4), (12, 3)])
def test_fernet_reading_the_face_smaller_sees_only_the_area_means_and_costs_less(px, side):
    from edgefer.complexity import count_macs

    m = FERNet(input_px=px, input_norm="face").eval()
    x = torch.rand(2, 1, 48, 48) * 200 + 20
    assert m.features(x).shape == (2, 128, side, side) and m(x).shape == (2, 8)
    k = 48 // px  # noise with zero mean in every k×k block leaves the S×S face the network reads unchanged
    noise = torch.randn(2, 1, 48, 48) * 10
    noise = noise - torch.nn.functional.avg_pool2d(noise, k).repeat_interleave(k, 2).repeat_interleave(k, 3)
    with torch.no_grad():
        torch.testing.assert_close(m(x + noise), m(x), atol=1e-4, rtol=1e-4)
        assert (FERNet(input_norm="face").eval()(x + noise) - FERNet(input_norm="face").eval()(x)).abs().max() > 0
    assert count_macs(m) < 0.5 * count_macs(FERNet())


def test_fernet_refuses_a_size_48_is_not_a_multiple_of():
    with pytest.raises(ValueError, match="input_px 24"):
        FERNet(input_px=24)


def test_generator_starts_near_identity_and_keeps_shape():
    g = Generator()
    f = torch.relu(torch.randn(4, 128, 6, 6))
    out = g(f)
    assert out.shape == f.shape and (out >= 0).all()
    assert (out - f).abs().mean() < 0.1 * f.abs().mean()


def test_discriminator_and_sr():
    assert Discriminator()(torch.rand(5, 128, 6, 6)).shape == (5,)
    x = torch.rand(3, 1, 48, 48) * 255
    torch.testing.assert_close(SRNet()(x), x)  # zero-initialised residual: starts as bicubic
    assert SRNet()(torch.rand(1, 1, 24, 24)).shape == (1, 1, 24, 24)


def test_compositions():
    fer = FERNet().eval()
    x = torch.rand(2, 1, 48, 48) * 255
    assert FSRFER(fer, Generator()).eval()(x).shape == (2, 8)
    torch.testing.assert_close(SRThenFER(SRNet(), fer).eval()(x), fer(x))


def test_face_standardize_makes_the_network_blind_to_gain_and_offset():
    import torch

    from edgefer.models.fer import FERNet

    net = FERNet(widths=(8, 16, 16, 32), emb_dim=16, input_norm="face").eval()
    x = torch.rand(3, 1, 48, 48) * 200 + 20
    with torch.no_grad():
        a, b = net(x), net(0.3 * x + 5)  # a dimmer, lifted copy
    torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    fixed = FERNet(widths=(8, 16, 16, 32), emb_dim=16).eval()
    with torch.no_grad():  # the fixed normalisation does see the change: far more than float rounding
        assert (fixed(x) - fixed(0.3 * x + 5)).abs().max() > 100 * (a - b).abs().max()
