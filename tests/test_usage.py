"""The ``Use`` snippet of every model kind (gen_core.usage) runs as written against a saved model of that kind (a
shipped one where there is one): the code a card tells people to paste works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gen_core.models import Autoencoder, AutoencoderConfig, BiGAN, BiGANConfig, CycleGAN2D, CycleGAN2DConfig
from gen_core.usage import USAGE, usage

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"

# A shipped folder of each kind, and the inputs its snippet names without defining (shapes as the snippet says).
SHIPPED = {
    "vae": ("vae-fmnist-16", {}),
    "dsprites": ("beta-vae-dsprites-b4", {"images": (torch.rand(3, 1, 64, 64) > 0.5).float()}),
    "flow": ("flow-ring-spline", {}),
    "gan": ("gan-ring-lsgan", {}),
    "dcgan": ("dcgan-fmnist", {}),
    "classifier": ("fmnist-classifier", {}),
    "cvae": ("cvae-fmnist", {"z": torch.randn(12)}),
    "vqvae": ("vqvae-fmnist", {}),
    "dvae": ("dvae-fmnist", {}),
    "flow_prior_vae": ("vae-fmnist-2d-flowprior", {"z": torch.randn(5, 2)}),
    "avb": ("avb-fmnist", {"x": (torch.rand(3, 1, 28, 28) > 0.5).float()}),
    "cyclegan": ("cyclegan-shoes", {"x": torch.rand(3, 1, 28, 28)}),
}


# Kinds that ship no weights (the toy CycleGAN is trained in its tab and downloaded from it): a fresh model saved
# to a temporary folder, and the inputs its snippet names.
UNSHIPPED = {
    "autoencoder": (lambda: Autoencoder(AutoencoderConfig(latent_dim=4)), {}),
    "cyclegan2d": (lambda: CycleGAN2D(CycleGAN2DConfig()), {"points": torch.randn(7, 2)}),
    "bigan2d": (lambda: BiGAN(BiGANConfig()), {"points": torch.randn(7, 2)}),
}


def test_every_kind_is_exercised() -> None:
    assert set(USAGE) == set(SHIPPED) | set(UNSHIPPED)


@pytest.mark.parametrize("kind", sorted(SHIPPED) + sorted(UNSHIPPED))
def test_snippet_runs_on_a_saved_model(kind: str, tmp_path: Path) -> None:
    if kind in SHIPPED:
        folder, inputs = SHIPPED[kind]
        path = PRETRAINED / folder
    else:
        build, inputs = UNSHIPPED[kind]
        path = tmp_path / kind
        build().save_pretrained(path)
    code = usage(kind, str(path))
    namespace: dict = {"torch": torch, "images": torch.rand(3, 1, 28, 28), **inputs}
    given = {id(v) for v in namespace.values()}
    with torch.no_grad():
        exec(compile(code, f"<usage {kind}>", "exec"), namespace)   # noqa: S102 - our own fixed snippets
    made = [v for k, v in namespace.items() if id(v) not in given and k != "__builtins__"]
    tensors = [t for v in made for t in (v if isinstance(v, tuple) else (v,)) if isinstance(t, torch.Tensor)]
    assert tensors, f"the {kind} snippet computed no tensor"
    assert all(torch.isfinite(t.float()).all() for t in tensors)


def test_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known kinds: autoencoder, avb"):
        usage("diffusion", "x")


def test_path_is_filled_in() -> None:
    assert 'load_pretrained("user/repo")' in usage("flow", "user/repo")
