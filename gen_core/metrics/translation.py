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
from dataclasses import dataclass
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
           "TOY_EVAL_SEED", "nearest_neighbour_baseline", "confusion_counts", "TranslationConfusion",
           "translation_confusion", "ScoreRow", "scoreboard", "LABEL_PRESERVATION_TARGET", "TARGET_RATE_TARGET",
           "CYCLE_L1_TARGET", "TRANSLATE_MS_TARGET"]

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


def nearest_neighbour_baseline(pair: DomainPair, sketches: Tensor) -> Tensor:
    """The nearest-neighbour baseline of the sketch pair: for each sketch (floats in [0, 1]) the index into
    ``pair.train_b`` of the training garment whose own edge map (:func:`sobel_edges` at the pair's threshold) is
    closest in L2."""
    return nearest_neighbour_indices(sketches, sobel_edges(pair.train_b, pair.threshold))


def _fid(classifier: Any, a: Tensor, b: Tensor) -> float:
    return fid_from_features(extract_features(classifier.features, a.float()),
                             extract_features(classifier.features, b.float()))


@torch.no_grad()
def evaluate_cyclegan(model: Any, classifier: Any, pair: DomainPair | None = None, n_pairs: int = N_PAIRS,
                      n_eval: int = N_PAIRS) -> dict[str, float]:
    """Every held-out metric of issue 6 for a CycleGAN trained on ``model.config.pair`` (see the CLI's card notes),
    on the first ``n_eval`` test images of each domain (all 1,000 of a shoe class; 2,000 of the 10,000 sketch pairs
    by default, which keeps the evaluation to minutes on a busy 2-core CPU), and ``label_preservation_all``: label
    preservation over *every* test sketch, EVALUATION.md's figure and the one the target is judged on."""
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
        # EVALUATION.md's figure: the whole test set (cheap: one pass of G and the classifier), beside the subset's
        rest = pair.test_a[n_eval:]
        fake_all = torch.cat([fake_b, translate_batched(model, rest, "a2b")]) if rest.shape[0] else fake_b
        out["label_preservation_all"] = label_accuracy(classifier, fake_all, pair.test_a_labels)
        out["n_test_all"] = float(pair.test_a.shape[0])
        n = min(n_pairs, test_a.shape[0])
        out["l1_to_partner"] = float(l1_per_image(fake_b[:n], test_b[:n]).mean())
        out["ssim_to_partner"] = float(ssim(fake_b[:n], test_b[:n]).mean())
        nn_idx = nearest_neighbour_baseline(pair, test_a[:n])
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


def confusion_counts(labels: Tensor, predicted: Tensor, n_classes: int = 10) -> Tensor:
    """(n_classes, n_classes) int64 counts: entry [i, j] is how many items of true class ``i`` were called ``j``.

    >>> confusion_counts(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]), 2)
    tensor([[1, 1],
            [0, 1]])
    """
    labels, predicted = labels.reshape(-1).long(), predicted.reshape(-1).long()
    if labels.shape != predicted.shape:
        raise ValueError(f"labels and predictions differ in length ({labels.numel()} vs {predicted.numel()})")
    for name, t in (("labels", labels), ("predictions", predicted)):
        if t.numel() and (t.min() < 0 or t.max() >= n_classes):
            raise ValueError(f"{name} must lie in 0..{n_classes - 1}")
    return torch.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


@dataclass(frozen=True)
class TranslationConfusion:
    """Where a CycleGAN's translations of held-out test images land, as the Fashion-MNIST classifier calls them.

    Row ``r`` holds translations of test images of class ``sources[r]`` that should be called ``expected[r]``
    (sketch -> garment: the sketch's own class; sneaker <-> ankle boot: the other class). ``counts[r, c]``: how many
    were called class ``c``. ``real_rate[r]``: the classifier's accuracy on real test images of class
    ``expected[r]``, the most a translation can be expected to score. ``nn_rate[r]``: the same share for the
    nearest-neighbour baseline (sketch pair only, else ``None``).
    """

    pair: str
    row_names: tuple[str, ...]
    sources: tuple[int, ...]
    expected: tuple[int, ...]
    counts: Tensor
    real_rate: Tensor
    nn_rate: Tensor | None

    @property
    def shares(self) -> Tensor:
        """``counts`` divided by each row's total: (rows, 10) shares that sum to 1 along a row."""
        return self.counts.double() / self.counts.sum(1, keepdim=True).clamp_min(1)

    @property
    def expected_rate(self) -> Tensor:
        """Per row, the share of translations called the expected class."""
        return self.shares[torch.arange(len(self.expected)), torch.tensor(self.expected)]

    @property
    def overall(self) -> float:
        """Share of all translations called their expected class (the card's ``label_preservation`` for the
        sketch pair, over the same test images)."""
        hits = self.counts[torch.arange(len(self.expected)), torch.tensor(self.expected)].sum()
        return float(hits / self.counts.sum().clamp_min(1))


@torch.no_grad()
def translation_confusion(model: Any, classifier: Any, pair: DomainPair | None = None,
                          n_eval: int = N_PAIRS) -> TranslationConfusion:
    """:class:`TranslationConfusion` of ``model`` on the first ``n_eval`` test images of each domain, the images
    :func:`evaluate_cyclegan` scores (so the sketch pair's ``overall`` equals its ``label_preservation`` and the
    shoes rows equal ``target_rate_a2b`` / ``target_rate_b2a``)."""
    from gen_core.data.fashion_mnist import CLASS_NAMES

    model.eval()
    classifier.eval()
    pair = pair or load_domain_pair(model.config.pair, threshold=model.config.edge_threshold)
    test_a, test_b = pair.test_a[:n_eval].float() / 255.0, pair.test_b[:n_eval].float() / 255.0
    n_classes = len(CLASS_NAMES)
    if pair.test_paired:   # sketch -> garment: row = the sketch's class, expected = the same class
        called = classifier.predict(translate_batched(model, test_a, "a2b"))
        labels_a, labels_b = pair.test_a_labels[:n_eval], pair.test_b_labels[:n_eval]
        counts = confusion_counts(labels_a, called, n_classes)
        real = confusion_counts(labels_b, classifier.predict(test_b), n_classes)
        nn_called = pair.train_b_labels[nearest_neighbour_baseline(pair, test_a)]
        nn = confusion_counts(labels_a, nn_called, n_classes)
        rows = tuple(range(n_classes))
        return TranslationConfusion(pair.name, tuple(f"{CLASS_NAMES[c]} sketch" for c in rows), rows, rows, counts,
                                    real.diag().double() / real.sum(1).clamp_min(1),
                                    nn.diag().double() / nn.sum(1).clamp_min(1))
    # sneaker <-> ankle boot: one row per direction, expected = the other class
    counts = torch.stack([torch.bincount(classifier.predict(translate_batched(model, x, d)), minlength=n_classes)
                          for x, d in ((test_a, "a2b"), (test_b, "b2a"))])
    real_rate = torch.tensor([class_rate(classifier, test_b, ANKLE_BOOT), class_rate(classifier, test_a, SNEAKER)],
                             dtype=torch.float64)
    return TranslationConfusion(pair.name, (f"{CLASS_NAMES[SNEAKER]} → {CLASS_NAMES[ANKLE_BOOT]}",
                                            f"{CLASS_NAMES[ANKLE_BOOT]} → {CLASS_NAMES[SNEAKER]}"),
                                (SNEAKER, ANKLE_BOOT), (ANKLE_BOOT, SNEAKER), counts, real_rate, None)


# Issue 6's targets for the shipped image CycleGANs.
LABEL_PRESERVATION_TARGET = 0.85   # sketch -> garment: classifier's call = the sketch's class
TARGET_RATE_TARGET = 0.90          # sneaker <-> ankle boot: share called the target class, each way
CYCLE_L1_TARGET = 0.05             # sneaker <-> ankle boot: cycle L1 per pixel, each domain
TRANSLATE_MS_TARGET = 100.0        # one uploaded image


@dataclass(frozen=True)
class ScoreRow:
    """One line of a CycleGAN's scoreboard: a held-out metric (``value``), its baseline where there is one, and
    the issue's target as text with whether ``value`` meets it (``met`` is ``None`` for a metric without one)."""

    label: str
    value: float
    unit: str                    # "%" (value is a share), "ms" or "" (a plain number)
    baseline: float | None = None
    baseline_name: str = ""      # what the baseline is: "nearest neighbour", "floor: real vs real"
    target: str = ""
    met: bool | None = None


def scoreboard(pair: str, metrics: dict[str, Any]) -> list[ScoreRow]:
    """The held-out metrics of :func:`evaluate_cyclegan` (as a model card states them) for the ``pair``'s
    scoreboard, each against issue 6's target. Metrics missing from ``metrics`` are left out."""
    def have(*keys: str) -> bool:
        return all(isinstance(metrics.get(k), (int, float)) and not isinstance(metrics.get(k), bool) for k in keys)

    def maybe(key: str) -> float | None:
        return float(metrics[key]) if have(key) else None

    rows: list[ScoreRow] = []
    nn_name = "nearest neighbour"
    if pair == "sketch":
        target = f"≥ {LABEL_PRESERVATION_TARGET:.0%}"
        if have("label_preservation_all", "n_test_all"):   # the protocol's figure (all test sketches) is judged
            lp_all = float(metrics["label_preservation_all"])
            rows.append(ScoreRow(f"label preservation, all {metrics['n_test_all']:,.0f} test sketches", lp_all, "%",
                                 None, "", target, lp_all >= LABEL_PRESERVATION_TARGET))
        if have("label_preservation"):
            lp = float(metrics["label_preservation"])
            judged = not have("label_preservation_all", "n_test_all")
            label = "label preservation: G(sketch) called the sketch's class"
            if not judged and have("n_pairs"):
                label = f"label preservation, the first {metrics['n_pairs']:,.0f} (the per-class panel's)"
            rows.append(ScoreRow(label, lp, "%", maybe("label_preservation_nn"), nn_name,
                                 target if judged else "", (lp >= LABEL_PRESERVATION_TARGET) if judged else None))
        if have("label_preservation_real"):
            rows.append(ScoreRow("the classifier on the true garments (a ceiling for the translations)",
                                 float(metrics["label_preservation_real"]), "%"))
        if have("l1_to_partner", "l1_to_partner_nn"):
            l1, nn = float(metrics["l1_to_partner"]), float(metrics["l1_to_partner_nn"])
            rows.append(ScoreRow("L1 to the true garment, per pixel", l1, "", nn, nn_name, "below the baseline",
                                 l1 < nn))
        if have("ssim_to_partner"):
            rows.append(ScoreRow("SSIM to the true garment", float(metrics["ssim_to_partner"]), "",
                                 maybe("ssim_to_partner_nn"), nn_name))
        names = {"a": "sketch → garment → sketch", "b": "garment → sketch → garment"}
        cycle_target = None
    else:
        for key, label in (("target_rate_a2b", "sneaker → ankle boot: called an ankle boot"),
                           ("target_rate_b2a", "ankle boot → sneaker: called a sneaker")):
            if have(key):
                rate = float(metrics[key])
                rows.append(ScoreRow(label, rate, "%", None, "", f"≥ {TARGET_RATE_TARGET:.0%}",
                                     rate >= TARGET_RATE_TARGET))
        names = {"a": "sneaker → ankle boot → sneaker", "b": "ankle boot → sneaker → ankle boot"}
        cycle_target = CYCLE_L1_TARGET
    for side in ("a", "b"):
        if have(f"cycle_l1_{side}"):
            err = float(metrics[f"cycle_l1_{side}"])
            rows.append(ScoreRow(f"cycle L1 {names[side]}, per pixel", err, "", None, "",
                                 f"≤ {cycle_target}" if cycle_target else "",
                                 err <= cycle_target if cycle_target else None))
    domains = ("garments", "sketches") if pair == "sketch" else ("ankle boots", "sneakers")
    for side, domain in zip(("b", "a"), domains):
        if have(f"fid_{side}", f"fid_{side}_floor"):
            rows.append(ScoreRow(f"FID-FMNIST of the translated {domain} against real test {domain}",
                                 float(metrics[f"fid_{side}"]), "", float(metrics[f"fid_{side}_floor"]),
                                 "floor: real training vs test"))
    if have("translate_ms"):
        ms = float(metrics["translate_ms"])
        rows.append(ScoreRow("time to translate one image (one thread, when the card was written)", ms, "ms", None,
                             "", f"≤ {TRANSLATE_MS_TARGET:.0f} ms", ms <= TRANSLATE_MS_TARGET))
    return rows


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
