"""The ``Use`` snippet of every model kind (gen_core.usage) runs as written against a shipped model of that kind:
the code a card tells people to paste works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

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


def test_every_kind_but_the_autoencoder_has_a_shipped_example() -> None:
    """The autoencoder (anomaly scores) ships no weights; every other snippet is exercised below."""
    assert set(USAGE) - set(SHIPPED) == {"autoencoder"}


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_snippet_runs_on_a_shipped_model(kind: str) -> None:
    folder, inputs = SHIPPED[kind]
    code = usage(kind, str(PRETRAINED / folder))
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
