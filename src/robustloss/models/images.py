"""Image classifiers: the paper's CNN, a tiny CNN for tests, and the raw-input wrapper.

Notation: B images per batch, C input channels, H = W = ``image_size`` pixels, K classes.
Networks take float images ``(B, C, H, W)`` that are already scaled; :class:`ImageClassifier`
puts an :class:`InputScaling` layer in front, so the model a user gets back from training
takes *raw* images exactly as the data loaders return them: ``(B, H, W)`` grayscale or
``(B, H, W, C)`` colour, uint8 or float, values 0..255.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

MODEL_NAMES: tuple[str, ...] = ("paper-cnn", "tiny")
SCALINGS: tuple[str, ...] = ("standardize", "raw")


class BitDropout(nn.Module):
    r"""Dropout with :class:`torch.nn.Dropout`'s distribution, several times faster on a CPU.

    .. math::
        y_i = x_i \cdot m_i / (1 - p), \quad m_i \sim \mathrm{Bernoulli}(1 - p)
        \text{ independently}

    in training mode, ``y = x`` in eval mode. Each mask element is one 16-bit slice of
    64-bit integers drawn from torch's generator for the input's device (so
    ``torch.manual_seed`` and ``torch.get_rng_state``/``set_rng_state`` govern it, as they
    govern ``nn.Dropout``); ``p`` is used rounded to a multiple of 2**-16, which is exact for
    the paper's 0.25 and 0.5. Why: ``nn.Dropout`` draws its mask with ``bernoulli_``, which on
    CPU draws one 32-bit number per element, serially; that took ~10% of a training step of
    the paper's CNN on this project's CPUs (more under bf16), against ~1% for 64-bit draws.
    The random stream differs from ``nn.Dropout``'s, so masks are not the same ones.

    Args:
        p: probability of zeroing an element, in [0, 1).

    Shape:
        Input: any. Output: same as input.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
            raise ValueError(f"Expected argument `p` to be a float in [0, 1), but got {p!r}")
        self.p = float(p)
        # Keep m_i = 1 when the signed 16-bit draw u_i in [-2**15, 2**15) has u_i >= threshold.
        self._threshold = round(self.p * 65536) - 32768

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        n = x.numel()
        words = torch.randint(  # (ceil(n / 4),): four 16-bit draws per 64-bit word
            -(2**63), 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device
        )
        draws = words.view(torch.int16)[:n]  # (n,)
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            draws = draws.as_strided(x.shape, x.stride())  # x's layout: no strided multiply
        else:
            draws = draws.view(x.shape)
        keep = (draws >= self._threshold).to(x.dtype) * (1.0 / (1.0 - self.p))
        return x * keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


def _check_shape_args(num_classes: int, in_channels: int, image_size: int, *, min_size: int):
    for name, value, low in (
        ("num_classes", num_classes, 2),
        ("in_channels", in_channels, 1),
        ("image_size", image_size, min_size),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"Expected argument `{name}` to be an int >= {low}, but got {value!r}")


class PaperCNN(nn.Module):
    """The paper's 1.2M-parameter CNN (the PyTorch MNIST example network).

    conv(C->32, 3x3) - ReLU - conv(32->64, 3x3) - ReLU - max-pool 2 - dropout 0.25 - flatten -
    linear(->128) - ReLU - dropout 0.5 - linear(128->K) (layer names as in the example, so
    its weights load). With the defaults (28x28 grayscale,
    10 classes) the flatten size is 64 * 12 * 12 = 9216 and the network has exactly
    1,199,882 parameters; other sizes change only the first linear layer's input width,
    ``64 * ((image_size - 4) // 2) ** 2``. Two speed-ups leave the function unchanged: the
    max-pool runs before the second ReLU (they commute), and dropout is :class:`BitDropout`.

    Args:
        num_classes: K, the number of output logits.
        in_channels: C, 1 for grayscale, 3 for RGB.
        image_size: H = W of the (square) input images; at least 6.

    Shape:
        Input: ``(B, C, H, W)`` float. Output: ``(B, K)`` logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        _check_shape_args(num_classes, in_channels, image_size, min_size=6)
        pooled = (image_size - 4) // 2  # two 3x3 valid convs (-4), then max-pool 2
        self.conv1 = nn.Conv2d(in_channels, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1 = BitDropout(0.25)
        self.fc1 = nn.Linear(64 * pooled * pooled, 128)
        self.dropout2 = BitDropout(0.5)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, 28, 28) at the defaults
        x = torch.relu(self.conv1(x))  # (B, 32, 26, 26)
        x = self.conv2(x)  # (B, 64, 24, 24)
        # max-pool, then ReLU: the two commute exactly (same values, same gradients, since
        # relu is monotone and relu'(max) gates the one gradient path max-pool keeps), and
        # ReLU on the pooled tensor is 4x less work forward and backward.
        x = torch.relu(torch.max_pool2d(x, 2))  # (B, 64, 12, 12)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)  # (B, 9216)
        x = torch.relu(self.fc1(x))  # (B, 128)
        x = self.dropout2(x)
        return self.fc2(x)  # (B, K)


class TinyCNN(nn.Module):
    """A few-thousand-parameter CNN for tests and smoke runs (same signature as PaperCNN).

    conv(C->8, 3x3) - ReLU - max-pool 2 - conv(8->16, 3x3) - ReLU - adaptive average pool to
    4x4 - dropout 0.25 - flatten - linear(256->K). Dropout is there so tests exercise the
    random state that resuming must restore.

    Shape:
        Input: ``(B, C, H, W)`` float, H = W >= 8. Output: ``(B, K)`` logits.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        _check_shape_args(num_classes, in_channels, image_size, min_size=8)
        self.conv1 = nn.Conv2d(in_channels, 8, 3)
        self.conv2 = nn.Conv2d(8, 16, 3)
        self.dropout = BitDropout(0.25)
        self.fc = nn.Linear(16 * 4 * 4, num_classes)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, 28, 28) at the defaults
        x = torch.max_pool2d(torch.relu(self.conv1(x)), 2)  # (B, 8, 13, 13)
        x = torch.relu(self.conv2(x))  # (B, 16, 11, 11)
        x = nn.functional.adaptive_avg_pool2d(x, 4)  # (B, 16, 4, 4)
        x = self.dropout(torch.flatten(x, 1))  # (B, 256)
        return self.fc(x)  # (B, K)


_MODELS: dict[str, type[nn.Module]] = {"paper-cnn": PaperCNN, "tiny": TinyCNN}


def make_model(name: str, *, num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    """Build a network by name (one of :data:`MODEL_NAMES`), freshly initialised.

    Initialisation draws from torch's global generator: seed it (or fork it) first.
    """
    if name not in _MODELS:
        raise ValueError(f"Expected argument `name` to be one of {MODEL_NAMES}, but got {name!r}")
    return _MODELS[name](num_classes=num_classes, in_channels=in_channels, image_size=image_size)


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of raw images, in float64 for stability.

    Shape:
        images: ``(N, H, W)`` or ``(N, H, W, C)``. Returns two ``(C,)`` float32 tensors.
    """
    x = images if images.ndim == 4 else images.unsqueeze(-1)  # (N, H, W, C)
    flat = x.reshape(-1, x.shape[-1])  # (N*H*W, C)
    mean = torch.zeros(flat.shape[1], dtype=torch.float64, device=flat.device)
    sq = torch.zeros_like(mean)
    # Chunked so a uint8 dataset is never materialised as float64 all at once.
    for chunk in torch.split(flat, 1 << 22):
        c = chunk.double()
        mean += c.sum(0)
        sq += (c * c).sum(0)
    n = flat.shape[0]
    mean /= n
    var = (sq / n - mean * mean).clamp_min(0.0)
    return mean.float(), var.sqrt().float()


class InputScaling(nn.Module):
    """Raw images to the network's layout and scale: ``(x - mean) / std`` per channel.

    ``scaling="standardize"`` uses the training set's per-channel mean and std (stored as
    buffers, so they travel with ``state_dict``); ``scaling="raw"`` keeps pixel values
    0..255 as floats (mean 0, std 1), as the authors' code did.

    Shape:
        Input: ``(B, H, W)`` or ``(B, H, W, C)``, any real dtype. Output: ``(B, C, H, W)`` float32,
        in channels-last memory format when ``channels_last`` is set.
    """

    def __init__(
        self,
        scaling: str,
        mean: Sequence[float] | Tensor,
        std: Sequence[float] | Tensor,
        *,
        channels_last: bool = False,
    ):
        super().__init__()
        if scaling not in SCALINGS:
            raise ValueError(
                f"Expected argument `scaling` to be one of {SCALINGS}, but got {scaling!r}"
            )
        mean_t = torch.as_tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)  # (1, C, 1, 1)
        std_t = torch.as_tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)  # (1, C, 1, 1)
        if mean_t.shape != std_t.shape:
            raise ValueError(
                f"mean and std must have one value per channel, got {mean_t.numel()} and "
                f"{std_t.numel()}"
            )
        if not bool((std_t > 0).all()):
            raise ValueError(f"std must be > 0 for every channel, got {std_t.flatten().tolist()}")
        self.scaling = scaling
        self.channels_last = channels_last
        self.register_buffer("mean", mean_t)
        self.register_buffer("std", std_t)

    @property
    def in_channels(self) -> int:
        return self.mean.shape[1]

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 3:
            x = x.unsqueeze(1)  # (B, 1, H, W)
        elif x.ndim == 4:
            x = x.permute(0, 3, 1, 2)  # (B, C, H, W), a channels-last view of (B, H, W, C)
        else:
            raise ValueError(
                f"Expected raw images of shape (B, H, W) or (B, H, W, C), but got {tuple(x.shape)}"
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"Expected {self.in_channels} channel(s) per image, but got {x.shape[1]}"
            )
        x = x.float()
        if self.scaling == "standardize":
            x = (x - self.mean) / self.std
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        return x.contiguous(memory_format=memory_format)  # (B, C, H, W)

    def extra_repr(self) -> str:
        return f"scaling={self.scaling!r}, channels_last={self.channels_last}"


class ImageClassifier(nn.Module):
    """A network with its input scaling: takes raw images, returns logits.

    This is what training returns, so :func:`robustloss.train.predict_proba` needs nothing
    but the model and the images.

    Shape:
        Input: ``(B, H, W)`` or ``(B, H, W, C)``, values 0..255. Output: ``(B, K)`` logits.
    """

    def __init__(self, scaling: InputScaling, net: nn.Module):
        super().__init__()
        self.scaling = scaling
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.scaling(x))  # (B, K)
