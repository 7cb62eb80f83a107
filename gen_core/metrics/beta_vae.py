"""Held-out evaluation of a beta-VAE on dSprites: likelihood terms, per-dim KL, latent x factor mutual
information, and the four disentanglement metrics (``gen_core.metrics.disentanglement``, EVALUATION.md).

dSprites is a complete factor grid with no train/test split (disentanglement_lib trains and scores on the same
737,280 images); "held-out" here means a fixed-seed sample that the training batches do not pick on purpose.
Lecture notes 000 A.3.2 and 001 (beta-VAE: "disentangled" latents, empirically, with no guarantee).
"""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from gen_core.data.dsprites import FACTOR_NAMES, FACTOR_SIZES, DSprites
from gen_core.metrics.disentanglement import all_metrics, mig, mutual_info_matrix
from gen_core.metrics.likelihood import EVAL_SEED, evaluate_vae, kl_per_dim
from gen_core.metrics.windowed import WindowedConv64Mean, frozen_for_inference
from gen_core.models.vae import VAE
from gen_core.threads import one_thread

N_HELD_OUT = 10_000  # images for ELBO, KL, reconstruction error, per-dim KL and the MI heatmap


ENCODE_BATCH = 64  # images per encoder call: on this CPU batch 64 runs ~2x the images/s of 4096 (cache-bound)
FROZEN_TOLERANCE = 1e-4  # largest difference from the eager means accepted of the frozen graph on its first batch


class _MeanOf(nn.Module):
    """``x -> model.encode(x)[0]`` as a module, so that ``torch.jit.trace`` can record it."""

    def __init__(self, model: VAE) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model.encode(x)[0]


def _frozen_mean(mean: nn.Module, batches: list[Tensor], expected: list[Tensor]) -> Any:
    """``mean`` traced on the first of ``batches`` and frozen for inference (weights prepacked for oneDNN, conv +
    ReLU fused: ~1.5x the images/s of eager channels-last convolutions on this CPU), or None when tracing fails or
    the frozen graph's means differ from the eager ones (``expected``) on any batch by more than
    ``FROZEN_TOLERANCE`` (a trace that baked in a data-dependent branch, say)."""
    try:
        frozen = frozen_for_inference(mean, batches[0])
        for b, e in zip(batches, expected):
            if (frozen(b) - e).abs().max().item() > FROZEN_TOLERANCE:
                return None
        return frozen
    except (RuntimeError, TypeError, ValueError):
        return None


def _windowed_mean(model: VAE, images: Tensor, expected: Tensor, fallback: Any) -> WindowedConv64Mean | None:
    """The windowed encoder of ``model`` (:mod:`gen_core.metrics.windowed`) when it applies: a conv64 VAE whose
    ``encode`` is VAE's own, on CPU, and whose windowed means on ``images`` match the eager ``expected`` ones
    within ``FROZEN_TOLERANCE``; else None. ``fallback`` encodes the calls that hold a pixel < 0."""
    if type(model).encode is not VAE.encode or model.config.architecture != "conv64" or images.min() < 0:
        return None
    try:
        windowed = WindowedConv64Mean.for_model(model, fallback)
        if windowed is None or (windowed(images) - expected).abs().max().item() > FROZEN_TOLERANCE:
            return None
        return windowed
    except (RuntimeError, TypeError, ValueError):
        return None


def encoder_mean_fn(model: VAE, batch_size: int = ENCODE_BATCH,
                    engine: Literal["eager", "frozen", "windowed"] = "windowed") -> Any:
    """The representation every metric scores: the encoder mean ``mu(x)`` on the model's device.

    The metrics hand over up to 16,384 images at a time; they are encoded ``batch_size`` at a time by a
    channels-last copy of the model on CPU (the same numbers to float error; ~1.5x faster convolutions here).
    ``engine`` (CPU; on other devices the model runs as it is): "eager" runs that copy as it is; "frozen": after
    the first call (eager), the copy is traced and frozen for inference (:func:`_frozen_mean`; ~1.3-1.5x faster
    again), unless its means on the first call's images differ from the eager ones; then every call stays eager.
    "windowed" (the default) also encodes images with pixels >= 0 of a conv64 VAE through
    :class:`~gen_core.metrics.windowed.WindowedConv64Mean` (the first three layers only where the image has ink,
    and the 2x2 convolutions as matrix products: ~1.7x the frozen graph's images/s on dSprites, the same means to
    float error), again only if it matches the first call.
    With ``torch.get_num_threads()`` > 1 the batches of a call run on that many worker threads (``encode_all``).
    The caller's model is left as it is.
    """
    device = next(model.parameters()).device
    mean: Any = _MeanOf(model)
    cpu = device.type == "cpu"
    if cpu:
        mean = _MeanOf(copy.deepcopy(model).eval().to(memory_format=torch.channels_last)).eval()
    if engine not in ("eager", "frozen", "windowed"):
        raise ValueError(f"engine must be 'eager', 'frozen' or 'windowed', got {engine!r}")
    encoder: Any = None if cpu and engine != "eager" else mean   # chosen on the first call otherwise
    windowed: WindowedConv64Mean | None = None

    def encode_one(b: Tensor) -> Tensor:
        with torch.inference_mode():  # per thread: the pool's threads do not inherit the caller's mode
            return encoder(b)

    def encode_all(batches: list[Tensor]) -> list[Tensor]:
        """The batches on ``torch.get_num_threads()`` worker threads of one intra-op thread each (CPU): torch
        releases the GIL inside its kernels, and whole batches side by side use the cores better than splitting
        each small convolution between them."""
        workers = torch.get_num_threads()
        if not cpu or workers < 2 or len(batches) < 2:
            return [encode_one(b) for b in batches]
        with one_thread(), ThreadPoolExecutor(workers, thread_name_prefix="encode") as pool:
            return list(pool.map(encode_one, batches))

    def full(x: Tensor) -> Tensor:
        """The chosen encoder on every pixel, ``batch_size`` images at a time."""
        if cpu:
            x = x.contiguous(memory_format=torch.channels_last)
        return torch.cat(encode_all(list(x.split(batch_size))))

    @torch.inference_mode()
    def represent(x: Tensor) -> Tensor:
        nonlocal encoder, windowed
        x = x.to(device)
        if windowed is not None:
            return windowed(x)       # images with a pixel < 0 go to the frozen graph (``full``, below)
        if encoder is not None:
            return full(x).cpu()
        if cpu:
            x = x.contiguous(memory_format=torch.channels_last)
        batches = list(x.split(batch_size))
        expected = [mean(b) for b in batches]           # the first call: eager, and the check of the frozen graphs
        encoder = _frozen_mean(mean, batches, expected) or mean
        if encoder is not mean and engine == "windowed":
            windowed = _windowed_mean(mean.model, x, torch.cat(expected), full)
        return torch.cat(expected).cpu()

    return represent


def held_out_images(n: int = N_HELD_OUT, seed: int = EVAL_SEED) -> tuple[Tensor, np.ndarray]:
    """A fixed-seed uniform sample of dSprites: images (n, 1, 64, 64) and factor indices (n, 5)."""
    return DSprites().sample(n, seed)


def _encode_means(represent: Any, images: Tensor, chunk: int = 2000) -> np.ndarray:
    """Encoder means of ``images`` as an (n, D) array, ``chunk`` images per call of ``represent``."""
    return torch.cat([represent(images[i:i + chunk]) for i in range(0, len(images), chunk)]).numpy()


ACTIVE_VARIANCE = 0.01   # Burda et al. (2016): a dim is active when Var_x E_q[z_d | x] exceeds this


def code_variance(means: np.ndarray) -> np.ndarray:
    """Var over images of each dim's posterior mean, the "activity" A_d = Var_x E_q[z_d | x] of Burda et al. (2016,
    IWAE, section 5.2). A dim whose mean does not move with the image carries no information about it, whatever
    its KL: a posterior N(c, s^2) with c != 0 or s != 1 for *every* image pays KL without coding anything.

        >>> code_variance(np.array([[0.0, 3.0], [2.0, 3.0]])).tolist()
        [1.0, 0.0]
    """
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 2 or len(means) < 2:
        raise ValueError(f"means must be (n, D) with n >= 2 images, got shape {means.shape}")
    return means.var(axis=0)


@torch.no_grad()
def latent_factor_report(model: VAE, n: int = N_HELD_OUT, seed: int = EVAL_SEED,
                         engine: Literal["eager", "frozen", "windowed"] = "windowed") -> dict[str, Any]:
    """Per-dim mean KL (nats), per-dim activity Var_x mu_d (:func:`code_variance`) and the MI matrix I(mu_d; v_f)
    (nats, 20-bin histograms, as MIG) on n images. ``engine``: :func:`encoder_mean_fn`'s; "eager" for a model
    encoded once (a live run's frame), where tracing a faster graph would cost more than it saves.

    Returns ``{"kl_per_dim": (D,) list, "code_variance": (D,) list, "mutual_info": (D, F) nested list,
    "factor_names": [...]}``.
    """
    model.eval()
    images, factors = held_out_images(n, seed)
    kl = kl_per_dim(model, images)
    means = _encode_means(encoder_mean_fn(model, engine=engine), images)
    mi = mutual_info_matrix(means, factors)
    return {"kl_per_dim": [round(float(v), 5) for v in kl],
            "code_variance": [round(float(v), 6) for v in code_variance(means)],
            "mutual_info": [[round(float(v), 5) for v in row] for row in mi],
            "factor_names": list(FACTOR_NAMES)}


def factor_response(codes: np.ndarray, factors: np.ndarray, sizes: tuple[int, ...] | list[int]) -> list[np.ndarray]:
    """Mean code per factor value: for each factor f, a (D, sizes[f]) array whose [d, v] entry is the mean of
    ``codes[:, d]`` over the images with ``factors[:, f] == v`` (NaN where no image has that value).

    The MI heatmap says *how much* a dim knows of a factor; this says *how*: a dim that codes x monotonically
    rises or falls along x, one that codes ``|x - centre|`` (a fold) falls and rises again.

        >>> codes = np.array([[0.0], [2.0], [4.0]]); factors = np.array([[0], [1], [1]])
        >>> factor_response(codes, factors, (3,))[0].tolist()
        [[0.0, 3.0, nan]]
    """
    codes = np.asarray(codes, dtype=np.float64)
    factors = np.asarray(factors)
    if codes.ndim != 2 or factors.ndim != 2 or len(codes) != len(factors):
        raise ValueError(f"codes (n, D) and factors (n, F) must have the same n, got {codes.shape} and {factors.shape}")
    if factors.shape[1] != len(sizes):
        raise ValueError(f"sizes must name one size per factor column ({factors.shape[1]}), got {len(sizes)}")
    if factors.size and (factors.min() < 0 or np.any(factors.max(axis=0) >= np.asarray(sizes))):
        raise ValueError("factor indices must lie in [0, size) for each factor")
    out = []
    for f, size in enumerate(sizes):
        index = factors[:, f].astype(np.int64)
        counts = np.bincount(index, minlength=size).astype(np.float64)
        sums = np.stack([np.bincount(index, weights=codes[:, d], minlength=size) for d in range(codes.shape[1])])
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append(np.where(counts > 0, sums / counts, np.nan))
    return out


@torch.no_grad()
def latent_response(model: VAE, n: int = 5000, seed: int = EVAL_SEED) -> list[np.ndarray]:
    """:func:`factor_response` of the encoder mean on ``n`` held-out dSprites images (the heatmap's sample)."""
    model.eval()
    images, factors = held_out_images(n, seed)
    return factor_response(_encode_means(encoder_mean_fn(model, engine="eager"), images), factors, FACTOR_SIZES)


def mig_estimate(model: VAE, n: int = 2000, seed: int = 0) -> float:
    """A cheap MIG for live training: the disentanglement_lib MIG protocol on ``n`` points instead of 10,000.

    With fewer points the plug-in mutual information is biased upwards (20 bins, up to 40 orientations), so
    this tracks the trend during training; the model cards report the full protocol.
    """
    was_training = model.training
    model.eval()
    try:
        return float(mig(DSprites(), encoder_mean_fn(model, engine="eager"), seed=seed, num_train=n)["mig"])
    finally:
        model.train(was_training)


def evaluate_dsprites_vae(model: VAE, preset: Literal["disentanglement_lib", "fast", "smoke"] = "disentanglement_lib",
                          seed: int = 0, n: int = N_HELD_OUT) -> dict[str, Any]:
    """Everything the beta-VAE model card and tab show, computed by gen_core on the encoder mean.

    Scalars: ``elbo``, ``kl``, ``recon_nll`` (nats per image), ``recon_mse`` (squared error per image) on ``n``
    fixed-seed images; ``beta_vae``, ``factor_vae`` (eval accuracies), ``mig``, ``dci_disentanglement``,
    ``dci_completeness``, ``dci_informativeness`` under ``preset``. Lists: ``kl_per_dim``, ``mutual_info``.
    """
    if not isinstance(model, VAE) or model.config.architecture != "conv64":
        raise ValueError("evaluate_dsprites_vae needs a VAE with architecture 'conv64' (64x64 dSprites)")
    model.eval()
    images, _ = held_out_images(n)
    likelihood = evaluate_vae(model, images, iwae_k=0)
    scores = all_metrics(DSprites(), encoder_mean_fn(model), seed=seed, preset=preset)
    out: dict[str, Any] = {k: likelihood[k] for k in ("elbo", "kl", "recon_nll", "recon_mse", "n_images")}
    out.update({
        "beta_vae": float(scores["beta_vae"]["eval_accuracy"]),
        "factor_vae": float(scores["factor_vae"]["eval_accuracy"]),
        "mig": float(scores["mig"]["mig"]),
        "dci_disentanglement": float(scores["dci"]["disentanglement"]),
        "dci_completeness": float(scores["dci"]["completeness"]),
        "dci_informativeness": float(scores["dci"]["informativeness_test"]),
    })
    out.update(latent_factor_report(model, n))
    out["preset"] = preset
    return out
