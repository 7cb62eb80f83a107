"""A small Fashion-MNIST classifier whose penultimate features define FID-FMNIST (EVALUATION.md, "Sample quality").

Inception weights cannot be downloaded here, so gen_core trains its own classifier and ships it in
``pretrained/fmnist-classifier``; ``features(x)`` (the 256-d hidden layer) is what :mod:`gen_core.metrics.fid`
compares. Its test accuracy is in its model card. Numbers computed with it are FID-FMNIST, never comparable with
Inception-FID.

    >>> clf = FMNISTClassifier(ClassifierConfig())
    >>> x = torch.rand(4, 1, 28, 28)
    >>> clf(( x, torch.tensor([0, 1, 2, 3])))["loss"].shape, clf.features(x).shape
    (torch.Size([]), torch.Size([4, 256]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_core.hub import HubModule

__all__ = ["ClassifierConfig", "FMNISTClassifier"]


@dataclass
class ClassifierConfig:
    """Two conv blocks and a 256-unit hidden layer: ~92% on Fashion-MNIST, cheap enough to train on a CPU."""

    model_type: str = "fmnist_classifier"
    channels: int = 32                 # first conv block; the second has twice as many
    hidden: int = 256                  # the feature layer used by FID-FMNIST
    n_classes: int = 10
    dropout: float = 0.4               # on the feature layer during training
    augment: bool = True               # random shifts of up to 2 px and horizontal flips while training


class FMNISTClassifier(HubModule):
    """``x (B, 1, 28, 28) in [0, 1] -> [conv3x3-BN-ReLU-maxpool] x 2 -> 256 ReLU features -> 10 logits``."""

    config_class = ClassifierConfig

    def __init__(self, config: ClassifierConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),              # (B, c, 14, 14)
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.BatchNorm2d(2 * c), nn.ReLU(), nn.MaxPool2d(2),      # (B, 2c, 7, 7)
            nn.Flatten(),
            nn.Linear(2 * c * 7 * 7, config.hidden), nn.ReLU(),                                       # (B, hidden)
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.n_classes))

    def features(self, x: Tensor) -> Tensor:
        """The 256-d feature vector of each image (what FID-FMNIST compares), (B, hidden)."""
        return self.body(2.0 * x - 1.0)

    def logits(self, x: Tensor) -> Tensor:
        """Class logits, (B, n_classes)."""
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 1000) -> Tensor:
        """Predicted class of every image, (B,), in eval mode and in chunks."""
        was = self.training
        self.eval()
        out = torch.cat([self.logits(x[i:i + batch_size]).argmax(1) for i in range(0, x.shape[0], batch_size)])
        self.train(was)
        return out

    def augment(self, x: Tensor) -> Tensor:
        """Random shifts of up to 2 pixels (zero padding) and random horizontal flips, one draw per image."""
        b = x.shape[0]
        padded = F.pad(x, (2, 2, 2, 2))
        dx = torch.randint(0, 5, (b,), device=x.device)
        dy = torch.randint(0, 5, (b,), device=x.device)
        rows = (dy[:, None] + torch.arange(28, device=x.device)[None, :])          # (B, 28)
        cols = (dx[:, None] + torch.arange(28, device=x.device)[None, :])
        out = padded[:, 0][torch.arange(b, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
        out = out[:, None]                                                           # (B, 1, 28, 28)
        flip = torch.rand(b, device=x.device) < 0.5
        return torch.where(flip[:, None, None, None], out.flip(-1), out)

    def forward(self, batch: Any, step: int = 0) -> dict[str, Tensor]:
        """Training objective for the shared loop: cross-entropy on an (images, labels) batch; also the accuracy."""
        x, y = batch
        if self.training and self.config.augment:
            x = self.augment(x)
        logits = self.logits(x)
        loss = F.cross_entropy(logits, y)
        return {"loss": loss, "accuracy": (logits.argmax(1) == y).float().mean().detach()}
