"""The shipped weights reproduce their model cards.

Every folder in ``pretrained/`` was trained and scored by gen_core's CLI, which wrote the held-out metrics into the
card. Here the metrics are computed again from the shipped ``model.safetensors`` with the same protocol (the same
test images, seeds and sample counts) and compared with the card: a retrained or hand-edited weight file, a changed
metric or a changed data pipeline fails here. Metrics that take minutes on this CPU (the IWAE bounds with K = 1,000,
FID on 10,000 samples, the disentanglement metrics other than MIG, the β-VAE's 64x64 ELBO) are left to
``python -m gen_core eval FOLDER``; each family is checked on the numbers its tab shows first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from gen_core import cards
from gen_core.cli import evaluate
from gen_core.models import load_pretrained

PRETRAINED = Path(__file__).resolve().parents[1] / "pretrained"


def assert_reproduces(name: str, computed: dict[str, Any], keys: tuple[str, ...] | None = None) -> None:
    """Each of ``keys`` (default: every number on the card) matches the card (:func:`cards.check_against_card`:
    float rounding for metadata, the printed four significant digits for the first cards' tables)."""
    card = cards.card_metrics(PRETRAINED / name)
    if keys is None:
        keys = tuple(k for k, v in card.items() if isinstance(v, (int, float, str)) and not isinstance(v, bool))
    assert set(keys) <= set(card), f"{name}: the card lacks {set(keys) - set(card)}"
    assert set(keys) <= set(computed), f"{name}: not computed: {set(keys) - set(computed)}"
    checks = cards.check_against_card({k: computed[k] for k in keys}, card)
    assert len(checks) == len(keys), f"{name}: not numbers: {set(keys) - {c.key for c in checks}}"
    assert all(c.ok for c in checks), [f"{name} {c.key}: computed {c.computed:.6g}, card {c.card}" for c in checks
                                       if not c.ok]


def folders(prefix: str) -> list[str]:
    names = sorted(p.name for p in PRETRAINED.glob(f"{prefix}*") if (p / "model.safetensors").is_file())
    assert names, f"no pretrained/{prefix}* folders"
    return names


@pytest.fixture(scope="module")
def test_set():
    from gen_core.data.fashion_mnist import load_fashion_mnist
    return load_fashion_mnist("test")


@pytest.fixture(scope="module")
def classifier():
    return load_pretrained(PRETRAINED / "fmnist-classifier")


@pytest.mark.parametrize("name", folders("gan-"))
def test_2d_gan_cards(name):
    """Modes captured, % high quality (5 sampling seeds of 2,500) and the histogram divergences: all of them."""
    assert_reproduces(name, evaluate(load_pretrained(PRETRAINED / name)))


@pytest.mark.parametrize("name", folders("flow-"))
def test_flow_cards(name):
    """Test NLL on 100,000 fresh target samples (fixed seed), the true entropy and the gap: all of them."""
    assert_reproduces(name, evaluate(load_pretrained(PRETRAINED / name)))


@pytest.mark.parametrize("name", folders("vae-fmnist-"))
def test_fashion_mnist_vae_cards(name, test_set):
    """ELBO, KL, reconstruction NLL and squared error on the 10,000 test images (the IWAE bound is left out: the
    same seeded draws come first, so the terms are the card's)."""
    from gen_core.metrics.likelihood import evaluate_vae
    m = evaluate_vae(load_pretrained(PRETRAINED / name), test_set.float_images(), iwae_k=0)
    assert_reproduces(name, m, ("elbo", "kl", "recon_nll", "recon_mse"))


def test_classifier_card(test_set, classifier):
    """The FID classifier's test accuracy (the card's ``test_accuracy``, 91.79%)."""
    acc = float((classifier.predict(test_set.float_images()) == test_set.labels).float().mean())
    assert_reproduces("fmnist-classifier", {"test_accuracy": acc}, ("test_accuracy",))


def test_latent_model_cards(test_set):
    """The CVAE's, dVAE's and VQ-VAE's test-set terms and the VQ-VAE's codebook usage."""
    from gen_core.metrics.latent_models import evaluate_cvae, evaluate_dvae, evaluate_vqvae
    x = test_set.float_images()
    assert_reproduces("cvae-fmnist", evaluate_cvae(load_pretrained(PRETRAINED / "cvae-fmnist"), x, test_set.labels,
                                                   iwae_k=0), ("elbo", "kl", "recon_nll", "recon_mse"))
    assert_reproduces("dvae-fmnist", evaluate_dvae(load_pretrained(PRETRAINED / "dvae-fmnist"), x))
    assert_reproduces("vqvae-fmnist", evaluate_vqvae(load_pretrained(PRETRAINED / "vqvae-fmnist"), x))


def test_avb_card(test_set):
    """AVB's true ELBO, its discriminator's KL estimate against the analytic KL, and T's held-out loss (4 seeded
    posterior and prior draws per image; the IWAE bound, drawn after them, is left out)."""
    from gen_core.models.avb import avb_metrics
    m = avb_metrics(load_pretrained(PRETRAINED / "avb-fmnist"), test_set.float_images())
    assert_reproduces("avb-fmnist", m, tuple(k for k in m if not k.startswith("iwae")))


def test_conditional_dcgan_card(classifier):
    """The class-conditional DCGAN's label agreement: the classifier's accuracy on 10,000 samples against the
    labels they were drawn for."""
    from gen_core.cli_gan import generate_images
    samples, labels = generate_images(load_pretrained(PRETRAINED / "cdcgan-fmnist"), 10_000)
    agreement = float((classifier.predict(samples) == labels).float().mean())
    assert_reproduces("cdcgan-fmnist", {"label_agreement": agreement}, ("label_agreement",))


@pytest.mark.parametrize("name", folders("cyclegan-"))
def test_cyclegan_cards(name, classifier):
    """Cycle error of A on the first 2,000 test images and the pair's headline numbers: label preservation, L1 and
    SSIM to the true garment (sketch), the target-class rates both ways (shoes)."""
    from gen_core.data.domains import ANKLE_BOOT, SNEAKER, load_domain_pair
    from gen_core.metrics.translation import N_PAIRS, class_rate, l1_per_image, label_accuracy, ssim, translate_batched
    model = load_pretrained(PRETRAINED / name)
    model.eval()
    pair = load_domain_pair(model.config.pair, threshold=model.config.edge_threshold)
    a, b = pair.test_a[:N_PAIRS].float() / 255.0, pair.test_b[:N_PAIRS].float() / 255.0
    fake_b = translate_batched(model, a, "a2b")
    got = {"cycle_l1_a": float(l1_per_image(translate_batched(model, fake_b, "b2a"), a).mean())}
    if pair.test_paired:
        got.update(label_preservation=label_accuracy(classifier, fake_b, pair.test_a_labels[:N_PAIRS]),
                   l1_to_partner=float(l1_per_image(fake_b, b).mean()), ssim_to_partner=float(ssim(fake_b, b).mean()))
        if "label_preservation_all" in cards.card_metrics(PRETRAINED / name):   # the whole test set (newer cards)
            everything = torch.cat([fake_b, translate_batched(model, pair.test_a[N_PAIRS:], "a2b")])
            got["label_preservation_all"] = label_accuracy(classifier, everything, pair.test_a_labels)
    else:
        got.update(target_rate_a2b=class_rate(classifier, fake_b, ANKLE_BOOT),
                   target_rate_b2a=class_rate(classifier, translate_batched(model, b, "b2a"), SNEAKER))
    assert_reproduces(name, got, tuple(got))


@pytest.mark.parametrize("name", ["beta-vae-dsprites-b4", "beta-tcvae-dsprites-b6"])
def test_dsprites_mig_cards(name):
    """MIG under the disentanglement_lib protocol (10,000 exact dSprites draws, its own RandomState(0)): the
    issue's headline metric, for the β = 4 model and the β-TCVAE."""
    from gen_core.data.dsprites import DSprites
    from gen_core.metrics.beta_vae import encoder_mean_fn
    from gen_core.metrics.disentanglement import PRESETS, mig
    model = load_pretrained(PRETRAINED / name)
    model.eval()
    result = mig(DSprites(), encoder_mean_fn(model), 0, **PRESETS["disentanglement_lib"]["mig"])
    assert_reproduces(name, {"mig": float(result["mig"])}, ("mig",))
