"""The paper's CNN (parameter count, shapes), the tiny CNN, BitDropout and input scaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from robustloss.models.images import (
    MODEL_NAMES,
    BitDropout,
    ImageClassifier,
    InputScaling,
    PaperCNN,
    TinyCNN,
    channel_stats,
    make_model,
)


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paper_cnn_has_exactly_the_papers_parameter_count():
    model = PaperCNN()
    assert n_params(model) == 1_199_882
    assert model.fc1.in_features == 9216
    assert [name for name, _ in model.named_parameters()] == [
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("num_classes", "in_channels", "image_size"),
    [(10, 1, 28), (5, 3, 32), (2, 1, 8), (100, 3, 64), (7, 2, 29)],
)
@pytest.mark.parametrize("cls", [PaperCNN, TinyCNN])
def test_forward_shapes_for_other_sizes_and_channels(cls, num_classes, in_channels, image_size):
    model = cls(num_classes=num_classes, in_channels=in_channels, image_size=image_size)
    x = torch.randn(3, in_channels, image_size, image_size)
    assert model(x).shape == (3, num_classes)
    if cls is PaperCNN:
        assert model.fc1.in_features == 64 * ((image_size - 4) // 2) ** 2


def test_tiny_cnn_is_tiny():
    assert 1_000 <= n_params(TinyCNN()) <= 10_000


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"image_size": 5}, "image_size"),
        ({"num_classes": 1}, "num_classes"),
        ({"in_channels": 0}, "in_channels"),
        ({"image_size": 28.0}, "image_size"),
    ],
)
def test_bad_shape_arguments_raise(kwargs, name):
    for cls in (PaperCNN, TinyCNN):
        with pytest.raises(ValueError, match=name):
            cls(**kwargs)


def test_smallest_image_sizes():
    assert PaperCNN(image_size=6)(torch.randn(2, 1, 6, 6)).shape == (2, 10)
    with pytest.raises(ValueError, match="image_size"):
        TinyCNN(image_size=7)


def test_make_model_by_name():
    assert MODEL_NAMES == ("paper-cnn", "tiny")
    assert isinstance(
        make_model("paper-cnn", num_classes=10, in_channels=1, image_size=28), PaperCNN
    )
    assert isinstance(make_model("tiny", num_classes=3, in_channels=3, image_size=16), TinyCNN)
    with pytest.raises(ValueError, match="resnet"):
        make_model("resnet", num_classes=10, in_channels=1, image_size=28)


def test_pool_before_relu_gives_the_textbook_values_and_gradients_bitwise():
    torch.manual_seed(0)
    model = PaperCNN().eval()  # eval: no dropout, so both orders see the same network
    x = torch.randn(4, 1, 28, 28)
    y = torch.tensor([0, 3, 5, 9])

    def textbook(m, x):
        h = F.relu(m.conv1(x))
        h = F.max_pool2d(F.relu(m.conv2(h)), 2)
        return m.fc2(F.relu(m.fc1(torch.flatten(h, 1))))

    grads = []
    outs = []
    for forward in (model, lambda x: textbook(model, x)):
        model.zero_grad()
        out = forward(x)
        F.cross_entropy(out, y).backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    assert torch.equal(outs[0], outs[1])
    for g0, g1 in zip(*grads, strict=True):
        assert torch.equal(g0, g1)


class TestBitDropout:
    @pytest.mark.parametrize("p", [0.25, 0.5, 0.1])
    def test_distribution_matches_dropout(self, p):
        torch.manual_seed(1)
        x = torch.ones(1_000_003)  # odd size: the last 64-bit word is used in part
        y = BitDropout(p)(x)
        kept = y != 0
        np.testing.assert_allclose(kept.float().mean().item(), 1 - p, atol=0.003)
        torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
        np.testing.assert_allclose(y.mean().item(), 1.0, atol=0.01)

    def test_eval_mode_and_zero_p_are_the_identity(self):
        x = torch.randn(10, 20)
        assert BitDropout(0.5).eval()(x) is x
        assert BitDropout(0.0)(x) is x

    def test_seeded_by_torch_global_generator(self):
        drop = BitDropout(0.5)
        x = torch.randn(64, 128)
        torch.manual_seed(3)
        a = drop(x)
        torch.manual_seed(3)
        b = drop(x)
        torch.manual_seed(4)
        c = drop(x)
        assert torch.equal(a, b)
        assert not torch.equal(a, c)

    def test_channels_last_input_and_gradient(self):
        torch.manual_seed(0)
        x = torch.randn(8, 16, 6, 6).contiguous(memory_format=torch.channels_last)
        x.requires_grad_(True)
        y = BitDropout(0.25)(x)
        assert y.shape == x.shape
        y.sum().backward()
        # gradient is the mask scaled: 0 where dropped, 1/(1-p) where kept
        torch.testing.assert_close(x.grad, (y != 0).float() / 0.75)

    @pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, True, "0.5"])
    def test_bad_p_raises(self, p):
        with pytest.raises(ValueError, match="`p`"):
            BitDropout(p)


class TestInputScaling:
    def test_grayscale_uint8_standardized(self):
        x = torch.randint(0, 256, (5, 8, 8), dtype=torch.uint8)
        mean, std = channel_stats(x)
        torch.testing.assert_close(mean, torch.tensor([x.double().mean().item()]).float())
        torch.testing.assert_close(
            std, torch.tensor([x.double().std(unbiased=False).item()]).float()
        )
        out = InputScaling("standardize", mean, std)(x)
        assert out.shape == (5, 1, 8, 8) and out.dtype == torch.float32
        torch.testing.assert_close(out, ((x.float() - mean) / std).unsqueeze(1))

    def test_rgb_per_channel_and_channels_last(self):
        x = torch.rand(4, 6, 6, 3) * 255
        x[..., 2] += 100
        mean, std = channel_stats(x)
        np.testing.assert_allclose(mean.numpy(), x.double().mean((0, 1, 2)).numpy(), rtol=1e-5)
        layer = InputScaling("standardize", mean, std, channels_last=True)
        out = layer(x)
        assert out.shape == (4, 3, 6, 6)
        assert out.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(out.mean((0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)

    def test_raw_keeps_pixel_values(self):
        x = torch.randint(0, 256, (2, 7, 7), dtype=torch.uint8)
        out = InputScaling("raw", [0.0], [1.0])(x)
        torch.testing.assert_close(out, x.float().unsqueeze(1))

    def test_errors(self):
        with pytest.raises(ValueError, match="scaling"):
            InputScaling("minmax", [0.0], [1.0])
        with pytest.raises(ValueError, match="std"):
            InputScaling("standardize", [0.0], [0.0])
        layer = InputScaling("raw", [0.0], [1.0])
        with pytest.raises(ValueError, match="channel"):
            layer(torch.zeros(2, 6, 6, 3))
        with pytest.raises(ValueError, match="shape"):
            layer(torch.zeros(6, 6))

    def test_classifier_takes_raw_images(self):
        clf = ImageClassifier(InputScaling("raw", [0.0], [1.0]), TinyCNN(num_classes=4))
        x = torch.randint(0, 256, (3, 28, 28), dtype=torch.uint8)
        assert clf(x).shape == (3, 4)
