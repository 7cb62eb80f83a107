"""How well a CycleGAN translates (issue 6; lecture notes 004): label preservation, target-domain rate, per-pixel L1
and SSIM against the true partner with a nearest-neighbour baseline, cycle error, FID-FMNIST per domain.

SSIM (Wang et al. 2004, "Image quality assessment: from error visibility to structural similarity"), with a
Gaussian window w (11 x 11, sigma 1.5, normalised to sum 1), local statistics ``mu_x = w * x``,
``sigma_x^2 = w * x^2 - mu_x^2``, ``sigma_xy = w * (xy) - mu_x mu_y`` and ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2``:

    SSIM(x, y) = mean over window positions of
                 (2 mu_x mu_y + C1) (2 sigma_xy + C2) / ((mu_x^2 + mu_y^2 + C1) (sigma_x^2 + sigma_y^2 + C2)),

the window sliding over the valid positions only (Wang et al.'s reference ``filter2(..., 'valid')``): an 18 x 18
map for a 28 x 28 image.

    >>> x = torch.rand(2, 1, 28, 28)
    >>> ssim(x, x)
    tensor([1., 1.])
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from gen_core.data.domains import ANKLE_BOOT, SNEAKER, DomainPair, load_domain_pair, sobel_edges
from gen_core.metrics.fid import extract_features, fid_from_features
from gen_core.threads import one_thread

__all__ = ["gaussian_window", "ssim_map", "ssim", "l1_per_image", "cycle_error_map", "translate_batched",
           "nearest_neighbour_indices", "label_accuracy", "class_rate", "worst_by_cycle_error",
           "time_translation", "evaluate_cyclegan", "N_PAIRS", "toy_held_out", "evaluate_toy_cyclegan", "TOY_EVAL_N",
           "TOY_EVAL_SEED"]

N_PAIRS = 2000   # held-out sketch pairs for L1 / SSIM and the nearest-neighbour baseline (an (n, 30000) search)
TOY_EVAL_N = 600         # held-out points per cloud of the toy 2-D CycleGAN (the tab's and its cards')
TOY_EVAL_SEED = 10_000   # their seed: one fixed set, so a live run's status and its download's card agree


def gaussian_window(size: int = 11, sigma: float = 1.5) -> Tensor:
    """(size, size) Gaussian ``exp(-(i^2 + j^2) / (2 sigma^2))`` centred on the middle pixel, normalised to sum 1."""
    if size < 1 or size % 2 == 0:
        raise ValueError(f"window size must be a positive odd number, got {size}")
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(r ** 2) / (2 * sigma ** 2))
    w = torch.outer(g, g)
    return w / w.sum()


def ssim_map(x: Tensor, y: Tensor, data_range: float = 1.0, window: int = 11, sigma: float = 1.5,
             k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """The SSIM map of Wang et al. 2004 (formula in the module docstring), (B, 1, H, W) x 2 -> (B, 1, H-w+1, W-w+1)."""
    if x.shape != y.shape or x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x and y must both have shape (B, 1, H, W), got {tuple(x.shape)} and {tuple(y.shape)}")
    if min(x.shape[-2:]) < window:
        raise ValueError(f"images of {tuple(x.shape[-2:])} are smaller than the {window}x{window} window")
    w = gaussian_window(window, sigma).to(device=x.device, dtype=torch.float64).view(1, 1, window, window)
    x, y = x.double(), y.double()
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_x, mu_y = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mu_x ** 2
    syy = F.conv2d(y * y, w) - mu_y ** 2
    sxy = F.conv2d(x * y, w) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2)
    return (num / den).float()


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Mean SSIM of each image pair, (B,); 1 for identical images. Pixels in [0, data_range]."""
    return ssim_map(x, y, data_range).mean(dim=(1, 2, 3))


def l1_per_image(x: Tensor, y: Tensor) -> Tensor:
    """Mean absolute per-pixel difference of each image pair, (B,)."""
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    return (x.float() - y.float()).abs().flatten(1).mean(1)


def cycle_error_map(x: Tensor, x_back: Tensor) -> Tensor:
    """Per-pixel cycle error ``|F(G(x)) - x|``, same shape as x; its mean is the cycle L1 ``||F(G(x)) - x||_1 / n``."""
    if x.shape != x_back.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(x_back.shape)}")
    return (x_back.float() - x.float()).abs()


@torch.no_grad()
def translate_batched(model: Any, x: Tensor, direction: str, batch_size: int = 500) -> Tensor:
    """``model.translate`` over a large set in chunks; uint8 inputs are scaled to [0, 1]."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    return torch.cat([model.translate(x[i:i + batch_size], direction) for i in range(0, x.shape[0], batch_size)])


@torch.no_grad()
def nearest_neighbour_indices(queries: Tensor, pool: Tensor, batch_size: int = 500) -> Tensor:
    """Index of the nearest pool row (squared L2 on flattened images) for each query, (Q,)."""
    q = queries.float().flatten(1)
    p = pool.float().flatten(1)
    p_sq = (p * p).sum(1)
    out = []
    for i in range(0, q.shape[0], batch_size):
        qi = q[i:i + batch_size]
        d = p_sq[None, :] - 2.0 * qi @ p.T        # ||q - p||^2 minus the per-query constant ||q||^2
        out.append(d.argmin(1))
    return torch.cat(out)


def label_accuracy(classifier: Any, images: Tensor, labels: Tensor) -> float:
    """Share of images that ``classifier.predict`` puts in their given class."""
    return float((classifier.predict(images.float()) == labels).float().mean())


def class_rate(classifier: Any, images: Tensor, target: int) -> float:
    """Share of images that ``classifier.predict`` puts in class ``target``."""
    return float((classifier.predict(images.float()) == target).float().mean())


@torch.no_grad()
def worst_by_cycle_error(model: Any, x: Tensor, direction: str, k: int) -> tuple[Tensor, Tensor]:
    """Indices of the ``k`` images with the largest cycle L1 and all cycle L1s, sorted worst first."""
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    other = "b2a" if direction == "a2b" else "a2b"
    y = translate_batched(model, x, direction)
    err = l1_per_image(translate_batched(model, y, other), x)
    order = err.argsort(descending=True)
    return order[:k], err


@torch.no_grad()
def time_translation(model: Any, direction: str = "a2b", repeats: int = 50) -> float:
    """Median wall time in ms to translate one 28x28 image (a batch of 1), after one warm-up call."""
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    model.translate(x, direction)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.translate(x, direction)
        times.append(time.perf_counter() - t0)
    return float(torch.tensor(times).median()) * 1000.0


def _fid(classifier: Any, a: Tensor, b: Tensor) -> float:
    return fid_from_features(extract_features(classifier.features, a.float()),
                             extract_features(classifier.features, b.float()))


@torch.no_grad()
def evaluate_cyclegan(model: Any, classifier: Any, pair: DomainPair | None = None, n_pairs: int = N_PAIRS,
                      n_eval: int = N_PAIRS) -> dict[str, float]:
    """Every held-out metric of issue 6 for a CycleGAN trained on ``model.config.pair`` (see the CLI's card notes),
    on the first ``n_eval`` test images of each domain (all 1,000 of a shoe class; 2,000 of the 10,000 sketch pairs
    by default, which keeps the evaluation to minutes on a busy 2-core CPU)."""
    model.eval()
    classifier.eval()
    pair = pair or load_domain_pair(model.config.pair, threshold=model.config.edge_threshold)
    test_a, test_b = pair.test_a[:n_eval].float() / 255.0, pair.test_b[:n_eval].float() / 255.0
    fake_b = translate_batched(model, test_a, "a2b")        # G(x)
    fake_a = translate_batched(model, test_b, "b2a")        # F(y)
    back_a = translate_batched(model, fake_b, "b2a")        # F(G(x))
    back_b = translate_batched(model, fake_a, "a2b")        # G(F(y))
    train_a = pair.train_a[: test_a.shape[0]].float() / 255.0
    train_b = pair.train_b[: test_b.shape[0]].float() / 255.0
    out: dict[str, float] = {
        "cycle_l1_a": float(l1_per_image(back_a, test_a).mean()),
        "cycle_l1_b": float(l1_per_image(back_b, test_b).mean()),
        "fid_b": _fid(classifier, fake_b, test_b), "fid_b_floor": _fid(classifier, train_b, test_b),
        "fid_a": _fid(classifier, fake_a, test_a), "fid_a_floor": _fid(classifier, train_a, test_a),
    }
    if pair.test_paired:   # sketch -> garment: true partners exist on the test set
        out["label_preservation"] = label_accuracy(classifier, fake_b, pair.test_a_labels[:n_eval])
        out["label_preservation_real"] = label_accuracy(classifier, test_b, pair.test_b_labels[:n_eval])
        n = min(n_pairs, test_a.shape[0])
        out["l1_to_partner"] = float(l1_per_image(fake_b[:n], test_b[:n]).mean())
        out["ssim_to_partner"] = float(ssim(fake_b[:n], test_b[:n]).mean())
        # Nearest-neighbour baseline: the domain-B training garment whose own edge map is closest to the sketch.
        pool_edges = sobel_edges(pair.train_b, pair.threshold)
        nn_idx = nearest_neighbour_indices(test_a[:n], pool_edges)
        nn_b = pair.train_b[nn_idx].float() / 255.0
        out["l1_to_partner_nn"] = float(l1_per_image(nn_b, test_b[:n]).mean())
        out["ssim_to_partner_nn"] = float(ssim(nn_b, test_b[:n]).mean())
        out["label_preservation_nn"] = float((pair.train_b_labels[nn_idx] == pair.test_a_labels[:n]).float().mean())
        out["n_pairs"] = float(n)
    else:                  # sneaker <-> ankle boot
        out["target_rate_a2b"] = class_rate(classifier, fake_b, ANKLE_BOOT)
        out["target_rate_b2a"] = class_rate(classifier, fake_a, SNEAKER)
        out["source_rate_a"] = class_rate(classifier, test_a, SNEAKER)
        out["source_rate_b"] = class_rate(classifier, test_b, ANKLE_BOOT)
    out["n_test_a"], out["n_test_b"] = float(test_a.shape[0]), float(test_b.shape[0])
    with one_thread():
        out["translate_ms"] = time_translation(model)
    return out


def toy_held_out(n: int = TOY_EVAL_N, seed: int = TOY_EVAL_SEED) -> tuple[Tensor, Tensor]:
    """Fixed held-out points of the toy CycleGAN's two clouds (:func:`gen_core.data.domains.toy_domains`): ``n`` of
    domain A (the ring of 8), then ``n`` of domain B (the 3 x 3 grid), drawn from one generator seeded ``seed``."""
    from gen_core.data.domains import toy_domains

    target_a, target_b = toy_domains()
    gen = torch.Generator().manual_seed(seed)
    return target_a.sample(n, generator=gen), target_b.sample(n, generator=gen)


@torch.no_grad()
def evaluate_toy_cyclegan(model: Any, n: int = TOY_EVAL_N, seed: int = TOY_EVAL_SEED) -> dict[str, float]:
    """Held-out metrics of a toy 2-D CycleGAN (``CycleGAN2D``) on :func:`toy_held_out` points.

    ``cycle_l1_a`` / ``cycle_l1_b``: mean |F(G(x)) - x| and |G(F(y)) - y| per coordinate (the cycle loss of Zhu et
    al., lecture notes 004); ``modes_b`` / ``hq_b_pct``: grid modes captured by G(A) and its share of high-quality
    points, ``modes_a`` / ``hq_a_pct``: ring modes captured by F(B) (the mode protocol of EVALUATION.md,
    :func:`gen_core.metrics.modes.mode_report`), with the mode counts ``n_modes_a`` / ``n_modes_b``.
    """
    from gen_core.data.domains import toy_domains
    from gen_core.metrics.modes import mode_report
    from gen_core.models.cyclegan import cycle_consistency_loss

    target_a, target_b = toy_domains()
    a, b = toy_held_out(n, seed)
    was = model.training
    model.eval()
    try:
        g_a, f_b = model.translate(a, "a2b"), model.translate(b, "b2a")
        back_a, back_b = model.translate(g_a, "b2a"), model.translate(f_b, "a2b")
    finally:
        model.train(was)
    on_b = mode_report(g_a, target_b.mode_centres, target_b.std)
    on_a = mode_report(f_b, target_a.mode_centres, target_a.std)
    return {"cycle_l1_a": float(cycle_consistency_loss(a, back_a)), "cycle_l1_b": float(cycle_consistency_loss(b, back_b)),
            "modes_b": float(on_b.modes), "n_modes_b": float(on_b.n_modes), "hq_b_pct": float(on_b.high_quality_pct),
            "modes_a": float(on_a.modes), "n_modes_a": float(on_a.n_modes), "hq_a_pct": float(on_a.high_quality_pct),
            "n_points": float(n)}
