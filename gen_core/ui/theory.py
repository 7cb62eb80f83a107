"""Theory tab: small exact worked examples from the lecture notes, each recomputed by gen_core.theory when a slider
moves: minimax dynamics (001), which Gaussian each divergence fits to two modes (002, 004), great likelihood with
poor samples against a memorising model (004, 002), and the Gumbel-softmax relaxation on the simplex (002).

This module validates inputs (``gr.Error`` sentences), calls ``gen_core.theory`` and hands figures from
``gen_core.viz.theory`` to Gradio; no math here. Nothing is shared between sessions: every handler is a pure
function of its inputs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import torch

from gen_core import cards
from gen_core.data.toy2d import Ring
from gen_core.models.bigan import (BIGAN_TEST_N, BiGAN, BiGANConfig, bigan_held_out, bigan_metrics, bigan_ring,
                                   bigan_snapshot, bigan_task)
from gen_core.theory import divergences as dv
from gen_core.theory import gumbel as gb
from gen_core.theory import minimax as mm
from gen_core.threads import seeded
from gen_core.train import TrainConfig, train
from gen_core.train.adversarial import AdversarialConfig
from gen_core.train.loop import SamplerBatches
from gen_core.ui.common import Number, RunDownload, Slider, choice, integer, number, register_run, stop_run
from gen_core.viz.theory import (bigan_figure, divergence_figure, gumbel_figure, likelihood_samples_figure,
                                 minimax_figure)

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]
GAME_CHOICES = [(label, key) for key, label in mm.GAMES.items()]
LR_RANGE = (0.01, 1.5)
NDIS_RANGE = (1, 20)
STEPS_RANGE = (10, 1000)
NOISE_RANGE = (0.0, 2.0)
SEP_RANGE = (0.0, 12.0)
WEIGHT_RANGE = (0.1, 0.9)
EPS_RANGE = (0.002, 0.5)
W_RANGE = (0.001, 1.0)
TAU_RANGE = (0.01, 10.0)
CAT_RANGE = (0.05, 1.0)
BIGAN_STEPS = (50, 5000)
BIGAN_UPDATE_S = 1.0     # seconds between streamed updates of the live BiGAN run, at least

MINIMAX_TEXT = r"""
### Minimax dynamics: simultaneous vs alternating gradient descent–ascent
A GAN is trained by $\min_\theta \max_\phi \mathcal L(\theta, \phi)$. Lecture notes 001 give three algorithms,
with step sizes $\alpha = \beta = \eta$ here. **Simultaneous**: $\phi^{k+1} = \phi^k + \beta \nabla_\phi \mathcal L(\theta^k, \phi^k)$,
$\theta^{k+1} = \theta^k - \alpha \nabla_\theta \mathcal L(\theta^k, \phi^k)$. **Alternating**: the descent step
uses the new $\phi^{k+1}$. **$n_{dis}$ ascent steps** per descent step ($n_{dis} = 1$ is alternating).

On the bilinear game $\mathcal L = \theta\phi$ each method is a linear map of $(\theta, \phi)$. Simultaneous GDA
multiplies the distance to the saddle $(0, 0)$ by exactly $\sqrt{1 + \eta^2}$ per step: it spirals out.
Alternating GDA has determinant 1 and keeps $\beta\theta^2 + \alpha\beta\,\theta\phi + \alpha\phi^2$ constant: it
circles on an ellipse (while $\alpha\beta < 4$). With $n_{dis}$ ascent steps the condition becomes
$n_{dis}\,\alpha\beta < 4$: more discriminator steps with a large step size spiral out again.

The **1-D Gaussian GAN** uses the notes' loss with data $x \sim \mathcal N(0, s^2)$, generator
$G_\theta(z) = \theta + s z$ and discriminator $D_\phi(x) = \sigma(\phi x)$; its gradients are exact Gaussian
expectations. Near the equilibrium $\mathcal L \approx -2\log 2 - \theta\phi/2 - s^2\phi^2/4$: the bilinear game
plus a damping term from the data's spread. With $s = 0$ (the "Dirac GAN") simultaneous GDA spirals out; with
noise, small steps spiral in.
"""

DIVERGENCE_TEXT = r"""
### Mode covering vs mode seeking: fitting one Gaussian to two modes
The target is $p = w\,\mathcal N(-d/2, 1) + (1 - w)\,\mathcal N(d/2, 1)$; the model is one Gaussian
$q = \mathcal N(\mu, \sigma^2)$ (lecture notes 002, 004). **Forward KL** $\mathrm{KL}(p\|q) = \mathbb E_p[\log p - \log q]$
is maximum likelihood; its optimum is moment matching, $\mu = \mathbb E_p x$, $\sigma^2 = \mathrm{Var}_p\,x$, so $q$
covers both modes and puts mass between them. **Reverse KL** $\mathrm{KL}(q\|p) = \mathbb E_q[\log q - \log p]$ is
punished wherever $q$ puts mass that $p$ lacks, so once the modes separate $q$ picks one (mode seeking).
**JSD** $= \tfrac12\mathrm{KL}(p\|m) + \tfrac12\mathrm{KL}(q\|m)$, $m = (p+q)/2$ (the GAN's divergence) sits between.
gen_core integrates each divergence numerically and minimises it by damped Newton steps from several starts.
"""

LIKELIHOOD_TEXT = r"""
### Great likelihood, poor samples (and the reverse)
Lecture notes 004 (after Theis et al. 2016): the model $p_2 = 0.01\,p_{data} + 0.99\,p_{noise}$ has, for every $x$,
$$\log\big(0.01\,p_{data}(x) + 0.99\,p_{noise}(x)\big) \ge \log p_{data}(x) - \log 100,$$
so its test log-likelihood is at most $\log 100 \approx 4.6$ nats per sample below the true density's, yet 99% of its
samples are noise. In high dimension $\log p_{data}$ grows with the dimension and 4.6 nats becomes negligible.
The reverse (notes 002): a model that memorises its training set, $p_1(x) = \frac1n\sum_i \mathcal N(x \mid x_i, \varepsilon^2 I)$,
draws samples that look exactly like data, but its held-out log-likelihood falls without bound as $\varepsilon \to 0$.
Data: 8 Gaussians on a ring; noise: uniform on $[-3, 3]^2$; memoriser fitted on 200 training points; log-likelihoods
are means over 5,000 held-out data points (nats per sample).
"""

GUMBEL_TEXT = r"""
### Gumbel-max and the Gumbel-softmax relaxation
Lecture notes 002: with $g_k = -\log(-\log u_k)$, $u_k \sim U(0, 1)$, the index $c = \arg\max_k(\log\pi_k + g_k)$ is
an exact sample of $\mathrm{Categorical}(\pi)$ (**Gumbel-max**). The argmax has no gradient, so the
**Gumbel-softmax** (Concrete) relaxation replaces it by
$$\hat c_k = \frac{\exp\big((\log\pi_k + g_k)/\tau\big)}{\sum_j \exp\big((\log\pi_j + g_j)/\tau\big)},$$
a point inside the simplex, differentiable in $\pi$. As $\tau \to 0$ the samples move to the corners (one-hot); as
$\tau \to \infty$ they collapse to the centre $(1/3, 1/3, 1/3)$. Their argmax is the Gumbel-max sample at every
$\tau$, so its frequencies match $\pi$. **Straight-through** uses the one-hot argmax forward and the gradient of
$\hat c$ backward. Below: 600 relaxed samples for three categories, on a fixed seed.
"""


def minimax(game: Any, lr: Any, n_dis: Any, steps: Any, noise: Any) -> list[Any]:
    """Trajectories of the three methods from (theta, phi) = (1, 0.5), and a summary."""
    game = choice(game, "Game", list(mm.GAMES))
    lr = number(lr, "Step size η", *LR_RANGE)
    n_dis = integer(n_dis, "n_dis (ascent steps per descent step)", *NDIS_RANGE)
    steps = integer(steps, "Steps", *STEPS_RANGE)
    noise = number(noise, "Data noise s", *NOISE_RANGE)
    runs = mm.compare_methods(game, lr, n_dis, steps, noise)
    named = {mm.method_label(m, n_dis): t for m, t in runs.items()}
    title = mm.GAMES[game] + (f", s = {noise:g}" if game == "gaussian_gan" else "") + f", η = {lr:g}"
    rows = ["| method | distance to equilibrium: start → after {} steps | growth per step (spectral radius) |".format(steps),
            "|---|---|---|"]
    for m, t in runs.items():
        end = t.norm[-1]
        end_s = f"{end:.3g}" if math.isfinite(end) else "overflow (∞)"
        rho = f"{mm.bilinear_spectral_radius(m, lr, lr, n_dis):.4f}" if game == "bilinear" else "–"
        rows.append(f"| {mm.method_label(m, n_dis)} | {t.norm[0]:.3g} → **{end_s}** | {rho} |")
    if game == "bilinear":
        rows.append(f"\nSimultaneous: √(1 + η²) = {math.sqrt(1 + lr * lr):.4f}. Alternating is bounded while "
                    f"α·β < 4; {n_dis} ascent steps while {n_dis}·α·β = {n_dis * lr * lr:.3g} < 4.")
    return [minimax_figure(named, title), "\n".join(rows)]


def divergences(separation: Any, weight: Any) -> list[Any]:
    """Forward KL, reverse KL and JSD fits of one Gaussian to two modes."""
    separation = number(separation, "Separation d", *SEP_RANGE)
    weight = number(weight, "Weight w of the left mode", *WEIGHT_RANGE)
    panel = dv.divergence_panel(separation, weight)
    rows = ["| divergence | μ | σ | minimal value (nats) |", "|---|---|---|---|"]
    for kind, f in panel.fits.items():
        rows.append(f"| {dv.DIVERGENCE_LABELS[kind]} | {f.mu:.3f} | {f.sigma:.3f} | **{f.value:.4f}** |")
    mu, sigma = dv.moment_match(dv.two_mode_mixture(separation, 1.0, weight))
    rows.append(f"\nMoment matching (the closed-form forward-KL optimum): μ = {mu:.3f}, σ = {sigma:.3f}.")
    return [divergence_figure(panel), "\n".join(rows)]


def likelihood(eps: Any, w: Any) -> list[Any]:
    """The noisy mixture and the memoriser against the data density: samples and held-out log-likelihoods."""
    eps = number(eps, "Memoriser bandwidth ε", *EPS_RANGE)
    w = number(w, "Weight of p_data in the noisy mixture", *W_RANGE)
    r = dv.likelihood_vs_samples(eps=eps, w=w)
    text = (f"| model | test log-likelihood (nats/sample) | samples |\n|---|---|---|\n"
            f"| data density p | **{r.loglik_data:.3f}** | data |\n"
            f"| {w:g}·p + {1 - w:g}·noise | **{r.loglik_noisy:.3f}** (bound log p − log(1/{w:g}) = {r.bound:.3f}) | "
            f"{100 * r.noise_fraction:.1f}% noise |\n"
            f"| memoriser, ε = {eps:g} | **{r.loglik_memo:.3f}** (on its own training points: {r.loglik_memo_train:.3f}) | "
            f"copies of training points |")
    return [likelihood_samples_figure(r), text]


def gumbel(tau: Any, w1: Any, w2: Any, w3: Any) -> list[Any]:
    """Relaxed samples on the simplex at temperature tau for pi proportional to (w1, w2, w3)."""
    tau = number(tau, "Temperature τ", *TAU_RANGE)
    weights = [number(w, f"Weight of category {i + 1}", *CAT_RANGE) for i, w in enumerate((w1, w2, w3))]
    p = gb.gumbel_panel(weights, tau)
    text = (f"π = ({', '.join(f'{x:.3f}' for x in p.probs)}); Gumbel-max frequencies (20,000 draws) = "
            f"({', '.join(f'{x:.3f}' for x in p.gumbel_max_freq)}); argmax of the 600 relaxed samples = "
            f"({', '.join(f'{x:.3f}' for x in p.argmax_freq)}); mean largest coordinate at τ = {tau:g}: "
            f"**{float(p.relaxed.max(axis=1).mean()):.3f}** (1 = one-hot, 1/3 = uniform).")
    return [gumbel_figure(p), text]


BIGAN_TEXT = r"""
### BiGAN: an encoder learned by a GAN (live, 2-D)
Lecture notes 004: besides $G: z \mapsto x$, an encoder $E: x \mapsto z$ sees only data, and the discriminator
sees *pairs*: it separates $(x, E(x))$, $x \sim p_{data}$, from $(G(z), z)$, $z \sim \mathcal N(0, I)$,
$$\min_{G,E}\max_D\ \mathbb E_x \log D(x, E(x)) + \mathbb E_z \log\big(1 - D(G(z), z)\big).$$
At the optimum the two joint distributions match, so $E$ and $G$ invert each other: $E(x)$ looks like prior draws
$z$ and $G(E(x)) = x$. Train a small BiGAN (3 ReLU layers of 64 units each, alternating updates, Adam 1e-3,
non-saturating labels) on the 8-mode ring and watch both; like every GAN it oscillates on its way (see the minimax
panel above). Held-out numbers: $\|G(E(x)) - x\|^2$ and $\|E(G(z)) - z\|^2$ (0 for a perfect BiGAN).
"""


def stop_bigan(session: dict[str, Any] | None) -> None:
    """Stop this session's live BiGAN run between two steps."""
    stop_run(session, "bigan")


def _bigan_run(steps: Any, seed: Any) -> tuple[int, int, Ring, BiGAN, Callable[..., list[Any]]]:
    """Check the controls and build a fresh BiGAN run: (steps, seed, target, model, render), where
    ``render(step, final="", scores=None)`` draws the three panels of the model as it is and a status with held-out
    numbers, and copies those numbers into ``scores`` when given (so a run's export does not compute them again)."""
    steps = integer(steps, "Steps", *BIGAN_STEPS)
    seed = integer(seed, "Seed", 0, 2**31 - 1)
    target = bigan_ring()
    with seeded(seed):       # the initial weights depend on the seed only
        model = BiGAN(BiGANConfig(hidden=64, depth=3, data_scale=2.0))
    x = bigan_held_out()     # the fixed points of models.bigan.evaluate_bigan: the status and the card agree

    def render(step: int, final: str = "", scores: dict[str, float] | None = None) -> list[Any]:
        m = bigan_metrics(model, x)
        if scores is not None:
            scores.update(m)
        head = final or f"Training… step {step} / {steps}"
        text = (f"{head}. Held-out ‖G(E(x)) − x‖² = **{m['recon_mse']:.3f}**, ‖E(G(z)) − z‖² = "
                f"**{m['latent_recon_mse']:.3f}**, ‖mean E(x)‖ = {m['enc_mean_norm']:.3f}, "
                f"‖Cov E(x) − I‖ = {m['enc_cov_err']:.3f}")
        return [bigan_figure(bigan_snapshot(model, x), f"BiGAN on the ring, step {step}"), text]

    return steps, seed, target, model, render


def preview_bigan(steps: Any, seed: Any) -> list[Any]:
    """Step 0 of the BiGAN run these controls would start (untrained E and G): the panels and a status."""
    steps, seed, _, _, render = _bigan_run(steps, seed)
    return render(0, f"Step 0 of {steps}, untrained, seed {seed}: press **Train BiGAN**")


def train_bigan(steps: Any, seed: Any, session: dict[str, Any] | None = None) -> Iterator[list[Any]]:
    """Train a fresh BiGAN on the 8-mode ring through the shared loop, streaming the three panels, a status and the
    download button (hidden on the first frame; the last, done or stopped, offers the model as a Hub-format zip)."""
    steps, seed, target, model, render = _bigan_run(steps, seed)
    cfg = TrainConfig(steps=steps, batch_size=256, seed=seed, log_every=10, device="cpu")
    src = SamplerBatches(target, cfg.batch_size, cfg.seed, torch.device("cpu"))
    stop = register_run(session, "bigan")
    download, started = RunDownload(), time.perf_counter()
    yield [*render(0), download.frame()]
    last, cost = time.perf_counter(), 0.0
    for ev in train(model, src, cfg, cancel=stop, task_factory=bigan_task(AdversarialConfig(lr_g=1e-3, lr_d=1e-3),
                                                                          src)):
        if ev.kind == "step" and ev.step < steps and time.perf_counter() - last > max(BIGAN_UPDATE_S, 3 * cost):
            t0 = time.perf_counter()
            update = render(ev.step)
            cost = time.perf_counter() - t0  # a busy CPU trains more between updates instead of only drawing
            yield [*update, download.frame()]
            last = time.perf_counter()
        elif ev.kind == "diverged":
            yield [gr.skip(), f"Stopped: the run diverged ({ev.message}); the last good weights are shown above.",
                   download.frame()]
            return
        elif ev.kind in ("done", "cancelled"):
            scores: dict[str, float] = {}
            frame = render(ev.step, f"Done: {ev.step} steps" if ev.kind == "done" else f"Stopped at step {ev.step}",
                           scores)
            wall_time_s = time.perf_counter() - started
            yield [*frame, download.offer(_export_bigan(model, seed, steps, ev.step, wall_time_s, scores))]


def _export_bigan(model: BiGAN, seed: int, steps_asked: int, steps: int, wall_time_s: float,
                  scores: dict[str, float]) -> Path:
    """The run's BiGAN as a zip of a Hub-format folder (:func:`gen_core.cards.export_live_run`) whose card holds
    what :func:`gen_core.models.bigan.evaluate_bigan` gives: ``scores``, the held-out numbers the final status
    showed (:func:`bigan_metrics` on the :func:`bigan_held_out` points), with their count."""
    settings = {"data": "ring of 8 Gaussians, radius 2, std 0.1", "batch": 256, "learning rate (G, E and D)": 1e-3,
                "seed": seed, "steps asked": steps_asked}
    note = (f"On the {BIGAN_TEST_N} fixed held-out ring points of gen_core.models.bigan.bigan_held_out: `recon_mse` "
            "= mean ||G(E(x)) - x||^2, `latent_recon_mse` = mean ||E(G(z)) - z||^2 for z ~ N(0, I) (2,000 seeded "
            "draws), `enc_mean_norm` and `enc_cov_err` how far E(x) is from the prior in mean and covariance (all 0 "
            "for a perfect BiGAN). `python -m gen_core eval FOLDER --check` recomputes them from the weights.")
    return cards.export_live_run(model, f"bigan-ring-seed{seed}-live", f"gen_core BiGAN on the ring, {steps} steps",
                                 "Theory tab", settings, steps, wall_time_s,
                                 {**scores, "n_points": float(BIGAN_TEST_N)}, note, "bigan2d")


def _wire(sliders: list[gr.components.Component], fn, outputs: list[gr.components.Component], api_name: str) -> None:
    for k, s in enumerate(sliders):
        s.input(fn, sliders, outputs, api_name=api_name if k == 0 else False, show_progress="hidden",
                trigger_mode="always_last")


def build_tab() -> None:
    """Lay out the Theory tab in the current Blocks context."""
    with gr.Tab("Theory", id="theory"):
        gr.Markdown("## Theory: worked examples from the lecture notes\nEvery curve and number here is recomputed "
                    "by `gen_core.theory` when you move a slider.")

        gr.Markdown(MINIMAX_TEXT, latex_delimiters=LATEX)
        with gr.Row():
            game = gr.Dropdown(GAME_CHOICES, value="bilinear", label="Game", elem_id="theory-game")
            lr = Slider(*LR_RANGE, value=0.2, step=0.01, label="Step size η (α = β)", elem_id="theory-lr")
            n_dis = Slider(*NDIS_RANGE, value=5, step=1, label="n_dis (ascent steps per descent step)",
                           elem_id="theory-ndis")
            steps = Slider(*STEPS_RANGE, value=200, step=10, label="Steps", elem_id="theory-steps")
            noise = Slider(*NOISE_RANGE, value=1.0, step=0.05, label="Data noise s (Gaussian GAN only)",
                           elem_id="theory-noise")
        fig, text = minimax("bilinear", 0.2, 5, 200, 1.0)
        mm_plot = gr.Plot(fig, label="Minimax dynamics", elem_id="theory-minimax-plot")
        mm_text = gr.Markdown(text, elem_id="theory-minimax-text")
        _wire([game, lr, n_dis, steps, noise], minimax, [mm_plot, mm_text], "theory_minimax")
        game.change(minimax, [game, lr, n_dis, steps, noise], [mm_plot, mm_text], api_name=False,
                    show_progress="hidden")

        gr.Markdown(DIVERGENCE_TEXT, latex_delimiters=LATEX)
        with gr.Row():
            sep = Slider(*SEP_RANGE, value=6.0, step=0.25, label="Separation d of the two modes",
                         elem_id="theory-sep")
            weight = Slider(*WEIGHT_RANGE, value=0.5, step=0.05, label="Weight w of the left mode",
                            elem_id="theory-weight")
        fig, text = divergences(6.0, 0.5)
        dv_plot = gr.Plot(fig, label="Divergence fits", elem_id="theory-div-plot")
        dv_text = gr.Markdown(text, elem_id="theory-div-text")
        _wire([sep, weight], divergences, [dv_plot, dv_text], "theory_divergences")

        gr.Markdown(LIKELIHOOD_TEXT, latex_delimiters=LATEX)
        with gr.Row():
            eps = Slider(*EPS_RANGE, value=0.02, step=0.002, label="Memoriser bandwidth ε", elem_id="theory-eps")
            w = Slider(*W_RANGE, value=0.01, step=0.001, label="Weight of p_data in the noisy mixture",
                       elem_id="theory-w")
        fig, text = likelihood(0.02, 0.01)
        ll_plot = gr.Plot(fig, label="Likelihood vs samples", elem_id="theory-ll-plot")
        ll_text = gr.Markdown(text, elem_id="theory-ll-text")
        _wire([eps, w], likelihood, [ll_plot, ll_text], "theory_likelihood")

        gr.Markdown(GUMBEL_TEXT, latex_delimiters=LATEX)
        with gr.Row():
            tau = Slider(*TAU_RANGE, value=0.5, step=0.01, label="Temperature τ", elem_id="theory-tau")
            cw = [Slider(*CAT_RANGE, value=v, step=0.05, label=f"Weight of category {i + 1}",
                         elem_id=f"theory-cat{i + 1}") for i, v in enumerate((0.2, 0.3, 0.5))]
        fig, text = gumbel(0.5, 0.2, 0.3, 0.5)
        gb_plot = gr.Plot(fig, label="Gumbel-softmax", elem_id="theory-gumbel-plot")
        gb_text = gr.Markdown(text, elem_id="theory-gumbel-text")
        _wire([tau, *cw], gumbel, [gb_plot, gb_text], "theory_gumbel")

        gr.Markdown(BIGAN_TEXT, latex_delimiters=LATEX)
        session = gr.State({})  # this browser session's stop event (see gen_core.ui.common.register_run)
        with gr.Row():
            bg_steps = Slider(*BIGAN_STEPS, value=1500, step=50, label="Steps", elem_id="theory-bigan-steps")
            bg_seed = Number(value=0, precision=0, label="Seed", minimum=0, elem_id="theory-bigan-seed")
            bg_start = gr.Button("Train BiGAN", variant="primary", elem_id="theory-bigan-start")
            bg_stop = gr.Button("Stop", elem_id="theory-bigan-stop")
        bg_first = preview_bigan(1500, 0)
        bg_status = gr.Markdown(bg_first[1], elem_id="theory-bigan-status")
        bg_download = gr.DownloadButton("Download the trained BiGAN (Hub-format folder, .zip)", visible=False,
                                        elem_id="theory-bigan-download")
        bg_plot = gr.Plot(bg_first[0], label="BiGAN", elem_id="theory-bigan-plot")
        bg_start.click(train_bigan, [bg_steps, bg_seed, session], [bg_plot, bg_status, bg_download],
                       api_name="theory_bigan_train",
                       concurrency_limit=2)
        bg_stop.click(stop_bigan, session, None, api_name=False)
