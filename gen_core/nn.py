"""Shared building blocks: an MLP and the convolutional encoder/decoder for 28x28 images.

Only true building blocks live here; each model family composes them in its own file (STYLE.md).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


def mlp(in_dim: int, hidden: int, out_dim: int, depth: int = 2,
        act: Callable[[], nn.Module] = nn.SiLU) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with activation ``act``, then a linear output layer."""
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(depth):
        layers += [nn.Linear(d, hidden), act()]
        d = hidden
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class ConvEncoder28(nn.Module):
    """(B, 1, 28, 28) -> (B, out_dim): two stride-2 4x4 convs (28 -> 14 -> 7), then an MLP head."""

    def __init__(self, out_dim: int, channels: int = 32, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, channels, 4, stride=2, padding=1), nn.SiLU(),                 # (B, c, 14, 14)
            nn.Conv2d(channels, 2 * channels, 4, stride=2, padding=1), nn.SiLU(),      # (B, 2c, 7, 7)
            nn.Flatten(),
            nn.Linear(2 * channels * 7 * 7, hidden), nn.SiLU(),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder28(nn.Module):
    """(B, in_dim) -> (B, out_channels, 28, 28) pre-activation outputs: the mirror of :class:`ConvEncoder28`."""

    def __init__(self, in_dim: int, channels: int = 32, hidden: int = 256, out_channels: int = 1) -> None:
        super().__init__()
        self.channels = channels
        self.fc = nn.Sequential(nn.Linear(in_dim, hidden), nn.SiLU(), nn.Linear(hidden, 2 * channels * 7 * 7), nn.SiLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(2 * channels, channels, 4, stride=2, padding=1), nn.SiLU(),   # (B, c, 14, 14)
            nn.ConvTranspose2d(channels, out_channels, 4, stride=2, padding=1),             # (B, out, 28, 28)
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.fc(z).view(z.shape[0], 2 * self.channels, 7, 7)
        return self.net(h)


class ConvEncoder64(nn.Module):
    """disentanglement_lib's ``conv_encoder`` for 64x64 images (Locatello et al. 2019; EVALUATION.md):
    convs 32-32-64-64 with 4x4, 4x4, 2x2, 2x2 kernels, stride 2 (64 -> 32 -> 16 -> 8 -> 4), FC 256, ReLU."""

    def __init__(self, out_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.ReLU(),     # (B, 32, 32, 32)
            nn.Conv2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),    # (B, 32, 16, 16)
            nn.Conv2d(32, 64, 2, stride=2), nn.ReLU(),               # (B, 64, 8, 8)
            nn.Conv2d(64, 64, 2, stride=2), nn.ReLU(),               # (B, 64, 4, 4)
            nn.Flatten(),
            nn.Linear(64 * 4 * 4, hidden), nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder64(nn.Module):
    """disentanglement_lib's ``deconv_decoder``: FC 256, FC 1024, then 4x4 stride-2 transposed convs
    64-32-32-1 (4 -> 8 -> 16 -> 32 -> 64). Returns pre-activation outputs (B, 1, 64, 64)."""

    def __init__(self, in_dim: int, hidden: int = 256) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, 64 * 4 * 4), nn.ReLU())
        self.net = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, stride=2, padding=1), nn.ReLU(),   # (B, 64, 8, 8)
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.ReLU(),   # (B, 32, 16, 16)
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),   # (B, 32, 32, 32)
            nn.ConvTranspose2d(32, 1, 4, stride=2, padding=1),               # (B, 1, 64, 64)
        )

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.fc(z).view(z.shape[0], 64, 4, 4))
