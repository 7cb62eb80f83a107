"""CycleGAN tab: translate Fashion-MNIST sketches into garments and sneakers into ankle boots (and back), see the round
trip and where it fails, read the shipped models' held-out scores against issue 6's targets and where each class's
translations land, and watch a toy CycleGAN on 2-D point clouds with and without cycle consistency.

Every number and image comes from gen_core (``models.cyclegan``, ``data.domains``, ``metrics.translation``) and every
figure from ``gen_core.viz.cyclegan``; this module validates inputs, calls them and wires Gradio events. The toy run
is its own generator call per session; Stop sets the run's ``threading.Event`` kept in the session's ``gr.State``
(the pattern of the Flows tab; no ``cancels=[...]``).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import PIL.Image
import torch

from gen_core import cards
from gen_core.data.domains import (EDGE_THRESHOLD, PAIRS, UnpairedSamplers, load_domain_pair, prepare_image,
                                   test_source_labels, test_sources, toy_domains)
from gen_core.data.fashion_mnist import CLASS_NAMES
from gen_core.hub import WeightsError
from gen_core.metrics.translation import (N_PAIRS, TOY_EVAL_N, ScoreRow, cycle_error_map, evaluate_toy_cyclegan,
                                          l1_per_image, scoreboard, toy_held_out, translation_confusion,
                                          worst_by_cycle_error)
from gen_core.models import load_pretrained
from gen_core.models.cyclegan import (CycleGAN, CycleGAN2D, CycleGAN2DConfig, CycleGANOptim,
                                      cycle_consistency_loss, cyclegan_task)
from gen_core.threads import seeded
from gen_core.train.loop import TrainConfig, train
from gen_core.ui.common import PRETRAINED_DIR, RunDownload, Slider, choice, integer, number, register_run, stop_run
from gen_core.viz.cyclegan import (big_image, cycle_curve, cycle_error_heatmap, toy_figure, translation_confusion_figure,
                                   translation_tile)

PAIR_LABELS = {"sketch": "sketch ↔ garment", "shoes": "sneaker ↔ ankle boot"}
DIRECTION_LABELS = {"sketch": {"a2b": "sketch → garment", "b2a": "garment → sketch"},
                    "shoes": {"a2b": "sneaker → ankle boot", "b2a": "ankle boot → sneaker"}}
N_EXAMPLES = 12
N_GALLERY_RANDOM, N_GALLERY_WORST, N_GALLERY_POOL = 8, 4, 300
SCALE = 8                       # 28 px shown as 224 px, pixelated
TOY_STEPS = (100, 4000)
TOY_LAMBDA = (0.0, 20.0)
TOY_LR = 2e-3                   # Adam for the toy's small MLPs (the image models use Zhu et al.'s 2e-4)
UPDATE_S = 0.5                  # stream a toy update about this often
LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]

EXPLAINER = r"""
A CycleGAN (Zhu et al. 2017; lecture notes 004) learns to translate between two image domains **without pairs**:
$G: X \to Y$ and $F: Y \to X$ are trained so that $G(x)$ fools a discriminator $D_Y$ of real $Y$ images (and
$F(y)$ fools $D_X$), while **cycle consistency** asks that a round trip comes back: $F(G(x)) \approx x$ and
$G(F(y)) \approx y$. The adversarial terms alone only match distributions; any mapping that lands in $Y$ would do.
The cycle term keeps each output tied to its own input.

$$\mathcal L(G, F, D_X, D_Y) = \mathcal L_{\rm GAN}(G, D_Y) + \mathcal L_{\rm GAN}(F, D_X)
  + \lambda\big(\mathbb E_x\|F(G(x)) - x\|_1 + \mathbb E_y\|G(F(y)) - y\|_1\big)$$

Here with least-squares GAN losses, an optional identity term $\lambda_{\rm id}\lambda(\mathbb E_y\|G(y)-y\|_1 +
\mathbb E_x\|F(x)-x\|_1)$ (Zhu et al. use $\lambda_{\rm id} = 0.5$ where colours must be kept), a pool of past
fakes for the discriminators, ResNet generators and PatchGAN discriminators, all shrunk to 28×28. The sketches are
Sobel edge maps computed by gen_core from *one half* of the training images, the garments are the *other half*: the
model never saw a sketch together with its garment.
"""


def explainer(models: dict[str, CycleGAN]) -> str:
    """:data:`EXPLAINER` and, per shipped model, the settings it was trained with (read from its config)."""
    lines = [f"- **{PAIR_LABELS[pair]}**: $\\lambda = {m.config.lambda_cycle:g}$, identity weight "
             f"$\\lambda_{{\\rm id}} = {m.config.lambda_identity:g}$"
             f"{' (off)' if m.config.lambda_identity == 0 else ''}, pool of {m.config.pool_size} fakes, "
             f"{m.config.channels}-filter generators with {m.config.n_res_blocks} residual blocks"
             for pair, m in models.items()]
    return EXPLAINER + ("\nThe shipped models:\n\n" + "\n".join(lines) + "\n" if lines else "")


PER_CLASS_CAPTION = """
**Reading the per-class panel.** Each row translates the test images of one class (sketch pair: the edge maps of the
test garments of that class; shoes: each direction) and the Fashion-MNIST classifier names every translation; a cell
is the share of the row it gave that name, the outlined cell is the right answer. The bars put that share beside the
nearest-neighbour baseline (the training garment whose own edge map is closest to the sketch) and the classifier's
accuracy on *real* test garments of the class, which a translation cannot be expected to beat. A sketch keeps the
outline and loses the texture, so classes that differ mostly inside the outline (pullover, coat, shirt, T-shirt) trade
places; the counts come from `gen_core.metrics.translation.translation_confusion` on the same test images as the card.
"""


@dataclass
class Translation:
    """What one translation shows."""

    x: torch.Tensor
    y: torch.Tensor
    back: torch.Tensor


class ImageInput(gr.Image):
    """``gr.Image`` whose preprocessing turns a file that is not a readable picture into a ``gr.Error`` sentence."""

    is_template = True  # use gr.Image's front end

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (PIL.UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise gr.Error(f"That file is not an image gen_core can read ({type(err).__name__}). Upload a PNG, JPEG, "
                           "GIF, BMP or WebP picture.") from err


class CycleGANModels:
    """The shipped CycleGANs (``pretrained/cyclegan-<pair>``) and the classifier that names translated images."""

    def __init__(self, models: dict[str, CycleGAN], classifier: Any | None,
                 card_metrics: dict[str, dict[str, Any]] | None = None) -> None:
        self.models = models
        self.classifier = classifier
        self.card_metrics = card_metrics or {}   # pair -> the held-out metrics its model card states

    @classmethod
    def load(cls, root: Any = PRETRAINED_DIR) -> CycleGANModels:
        """Load whichever pretrained CycleGANs exist (the tab says which are missing)."""
        models: dict[str, CycleGAN] = {}
        metrics: dict[str, dict[str, Any]] = {}
        for pair in PAIRS:
            try:
                m = load_pretrained(root / f"cyclegan-{pair}")
            except (WeightsError, FileNotFoundError, OSError, ValueError):
                continue
            if isinstance(m, CycleGAN):
                models[pair] = m
                metrics[pair] = cards.card_metrics(root / f"cyclegan-{pair}")
        try:
            clf = load_pretrained(root / "fmnist-classifier")
        except (WeightsError, FileNotFoundError, OSError, ValueError):
            clf = None
        return cls(models, clf, metrics)


class CycleGANTab:
    """The tab's endpoints; holds only read-only models (no per-session state)."""

    def __init__(self, models: CycleGANModels) -> None:
        self.m = models
        self._galleries: dict[tuple[str, str], tuple[list[tuple[np.ndarray, str]], str]] = {}
        self._gallery_lock = threading.Lock()    # one computation per pair and direction, however many callers
        self._quality: dict[str, tuple[str, Any]] = {}
        self._quality_lock = threading.Lock()    # one confusion per pair
        self.page_load: tuple[Any, list[Any], list[Any]] | None = None   # (fn, inputs, outputs) when the page opens

    # -- validation --------------------------------------------------------------------------------------------
    def _model(self, pair: Any) -> CycleGAN:
        pair = choice(pair, "Domain pair", list(PAIRS))
        if pair not in self.m.models:
            raise gr.Error(f"No pretrained CycleGAN for {PAIR_LABELS[pair]} was found in pretrained/cyclegan-{pair}; "
                           "train it with `python -m gen_core train cyclegan --pair " + pair + " ...`.")
        return self.m.models[pair]

    @staticmethod
    def _direction(direction: Any) -> str:
        return choice(direction, "Direction", ["a2b", "b2a"])

    # -- translation -------------------------------------------------------------------------------------------
    def _translate(self, model: CycleGAN, x: torch.Tensor, direction: str) -> list[Any]:
        y, back = model.round_trip(x, direction)  # type: ignore[arg-type]
        err = cycle_error_map(x, back)
        pair = model.config.pair
        names = DIRECTION_LABELS[pair][direction].split(" → ")
        lines = [f"**{DIRECTION_LABELS[pair][direction]}**: cycle error mean |{names[0]} → {names[1]} → {names[0]} "
                 f"− input| = **{float(l1_per_image(back, x)[0]):.3f}** per pixel (grey levels in [0, 1])."]
        if self.m.classifier is not None and (pair == "shoes" or direction == "a2b"):
            probs = torch.softmax(self.m.classifier.logits(y), dim=1)[0]
            k = int(probs.argmax())
            lines.append(f"The Fashion-MNIST classifier calls the translation **{CLASS_NAMES[k]}** ({probs[k]:.0%}).")
        formula = "|F(G(x)) - x|" if direction == "a2b" else "|G(F(y)) - y|"
        heat = cycle_error_heatmap(err, f"Cycle error {formula} per pixel")
        return [big_image(y, SCALE), big_image(back, SCALE), heat, "\n\n".join(lines)]

    def translate_image(self, pair: Any, direction: Any, image: Any) -> list[Any]:
        """Translate a picked or uploaded picture: [translation, round trip, cycle-error heatmap, status]."""
        model = self._model(pair)
        direction = self._direction(direction)
        if image is None:
            raise gr.Error("Pick a test image from the examples or upload a picture first.")
        binarize = model.config.pair == "sketch" and direction == "a2b"
        try:
            x = prepare_image(image, binarize=binarize)
        except ValueError as err:
            raise gr.Error(f"That picture cannot be used: {err}.") from err
        return self._translate(model, x, direction)

    def translate_drawing(self, pair: Any, direction: Any, drawing: Any) -> list[Any]:
        """Translate the sketchpad's drawing (its composite layer)."""
        if not isinstance(drawing, dict) or drawing.get("composite") is None:
            raise gr.Error("Draw something on the sketchpad first.")
        comp = drawing["composite"]
        arr = np.asarray(comp)
        if arr.ndim == 3 and arr.shape[2] == 4 and arr[..., 3].max() == 0 or arr.size == 0:
            raise gr.Error("The sketchpad is empty: draw the outline of a garment first.")
        return self.translate_image(pair, direction, comp)

    # -- examples and gallery ----------------------------------------------------------------------------------
    @staticmethod
    @functools.lru_cache(maxsize=8)
    def _source_images(pair: str, direction: str, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
        dp = load_domain_pair(pair, threshold=threshold)
        src = dp.test_a if direction == "a2b" else dp.test_b
        return src.float() / 255.0

    def _threshold(self, pair: str) -> float:
        """The edge threshold of the sketch domain the pair's shipped model was trained on (default: none shipped)."""
        model = self.m.models.get(pair)
        return model.config.edge_threshold if model is not None else EDGE_THRESHOLD

    def examples(self, pair: Any, direction: Any) -> list[tuple[np.ndarray, str]]:
        """The first test images of the source domain, for the example picker."""
        pair = choice(pair, "Domain pair", list(PAIRS))
        direction = self._direction(direction)
        src = test_sources(pair, direction, N_EXAMPLES, self._threshold(pair)).float() / 255.0  # fast at start-up
        return [(big_image(img, 4), f"test #{i}") for i, img in enumerate(src)]

    def pick_example(self, pair: Any, direction: Any, index: Any) -> np.ndarray:
        """The ``index``-th example as a picture for the input box (shown 8x larger; exact after shrinking)."""
        pair = choice(pair, "Domain pair", list(PAIRS))
        direction = self._direction(direction)
        i = integer(index, "Example index", 0, N_EXAMPLES - 1)
        src = test_sources(pair, direction, N_EXAMPLES, self._threshold(pair))
        return big_image(src[i].float() / 255.0, SCALE)

    def show_example(self, pair: Any, direction: Any, index: Any) -> list[Any]:
        """The ``index``-th example in the input box and translated at once: [input picture, translation, round
        trip, cycle-error heatmap, status], the status naming the example's true Fashion-MNIST class."""
        pair = choice(pair, "Domain pair", list(PAIRS))
        direction = self._direction(direction)
        i = integer(index, "Example index", 0, N_EXAMPLES - 1)
        picture = self.pick_example(pair, direction, i)
        outputs = self.translate_image(pair, direction, picture)
        cls = CLASS_NAMES[int(test_source_labels(pair, direction, N_EXAMPLES)[i])]
        source = DIRECTION_LABELS[pair][direction].split(" → ")[0]
        a = "an" if cls[0] in "AEIOU" else "a"
        if pair == "sketch" and direction == "a2b":
            origin = (f"Test sketch #{i} is the edge map of test image #{i}, {a} **{cls}**: a faithful translation "
                      f"is {a} {cls} too.")
        elif pair == "sketch":
            origin = f"Test {source} #{i}, {a} **{cls}**."
        else:  # the shoes pair's domains are classes already
            origin = f"Test {source} #{i}."
        return [picture, *outputs[:3], origin + "\n\n" + outputs[3]]

    def on_select(self, pair: Any, direction: Any, evt: gr.SelectData) -> list[Any]:
        """Gallery click -> the picked example in the input box, translated."""
        return self.show_example(pair, direction, evt.index)

    def gallery(self, pair: Any, direction: Any) -> tuple[list[tuple[np.ndarray, str]], str]:
        """Test translations (input | translation | round trip): random ones and the worst by cycle error.

        The same every time for a pair and direction (fixed test images, frozen models), so each is computed once.
        """
        model = self._model(pair)
        direction = self._direction(direction)
        key = (model.config.pair, direction)
        with self._gallery_lock:
            if key not in self._galleries:
                self._galleries[key] = self._gallery(model, direction)
            return self._galleries[key]

    def warm_up(self) -> None:
        """Compute the gallery and the per-class panel the page opens on (sketch -> garment, ~5 s and ~10 s on one
        core), so that the first visitor finds them ready; meant for a background thread once the server is up (see
        ``gen_core.ui.warm_up_in_background``)."""
        if "sketch" in self.m.models:
            self.gallery("sketch", "a2b")
            self.quality("sketch")

    def shown(self, pair: Any, direction: Any) -> list[Any]:
        """What follows the pair and direction below the translation: [gallery, its note, scoreboard, per-class
        figure] (:meth:`gallery` and :meth:`quality`)."""
        return [*self.gallery(pair, direction), *self.quality(pair)]

    def quality(self, pair: Any) -> tuple[str, Any]:
        """The shipped model's held-out scores and where its translations land per class: [scoreboard Markdown
        (its card's metrics against issue 6's targets), figure of
        :func:`gen_core.metrics.translation.translation_confusion` on the card's test images]. Computed once per
        pair (frozen models, fixed test images)."""
        model = self._model(pair)
        key = model.config.pair
        with self._quality_lock:
            if key not in self._quality:
                self._quality[key] = self._quality_panel(model)
            return self._quality[key]

    def _quality_panel(self, model: CycleGAN) -> tuple[str, Any]:
        pair = model.config.pair
        metrics = self.m.card_metrics.get(pair, {})
        n_card = metrics.get("n_test_a")   # the card's test images per domain, so the panel counts the same ones
        n = int(n_card) if isinstance(n_card, (int, float)) else N_PAIRS
        text = scoreboard_markdown(pair, scoreboard(pair, metrics), n)
        if self.m.classifier is None:
            return text + "\n\n*The Fashion-MNIST classifier (pretrained/fmnist-classifier) is missing.*", None
        conf = translation_confusion(model, self.m.classifier, n_eval=n)
        return text, translation_confusion_figure(conf, CLASS_NAMES)

    def _gallery(self, model: CycleGAN, direction: str) -> tuple[list[tuple[np.ndarray, str]], str]:
        """Build :meth:`gallery`'s tiles and note for ``model`` in ``direction``."""
        src = self._source_images(model.config.pair, direction, model.config.edge_threshold)[:N_GALLERY_POOL]
        worst, err = worst_by_cycle_error(model, src, direction, N_GALLERY_WORST)
        gen = torch.Generator().manual_seed(0)
        rand = torch.randperm(src.shape[0], generator=gen)[:N_GALLERY_RANDOM]
        items = []
        for tag, idxs in (("random", rand), ("WORST", worst)):
            x = src[idxs]
            y, back = model.round_trip(x, direction)  # type: ignore[arg-type]
            for j, i in enumerate(idxs.tolist()):
                items.append((translation_tile(x[j], y[j], back[j]), f"{tag}: test #{i}, cycle L1 {err[i]:.3f}"))
        note = (f"Each tile: input | translation | round trip. The last {N_GALLERY_WORST} are the worst round trips "
                f"among the first {src.shape[0]} test images (median cycle L1 {err.median():.3f}, worst "
                f"{err.max():.3f}): honest failure cases.")
        return items, note

    # -- toy 2-D CycleGAN --------------------------------------------------------------------------------------
    def toy_preview(self, lam: Any, steps: Any, seed: Any) -> list[Any]:
        """Step 0 of the toy run these controls would start (the untrained G and F): [figure, curve, status]."""
        return _ToyRun(lam, steps, seed).render(0, "Untrained (press **Train toy CycleGAN**).")

    def toy_train(self, lam: Any, steps: Any, seed: Any, session: dict[str, Any] | None) -> Iterator[list[Any]]:
        """Train a toy CycleGAN (ring of 8 -> grid of 9 Gaussians) live, streaming [figure, curve, status, download
        button]: the first frame hides the previous run's download, the last (done or stopped) offers the trained
        model as a Hub-format folder in a zip (:meth:`_ToyRun.export`)."""
        run = _ToyRun(lam, steps, seed)
        model, render, hist = run.model, run.render, run.hist
        source = UnpairedSamplers(run.target_a, run.target_b, 256, run.seed, torch.device("cpu"))
        cfg = TrainConfig(steps=run.steps, batch_size=256, log_every=25, seed=run.seed, device="cpu")
        stop = register_run(session, "cyclegan_toy")
        download = RunDownload()
        last, t0 = 0.0, time.perf_counter()
        yield [*render(0, "Training…"), download.frame()]
        for ev in train(model, source, cfg, cancel=stop, task_factory=cyclegan_task(CycleGANOptim(lr=TOY_LR))):
            if ev.kind == "step":
                hist["step"].append(ev.step)
                hist["cycle"].append(ev.metrics["cycle_a"])
                hist["d"].append(ev.metrics["d_loss_a"] + ev.metrics["d_loss_b"])
                if time.perf_counter() - last >= UPDATE_S:
                    yield [*render(ev.step, "Training…"), download.frame()]
                    last = time.perf_counter()
            elif ev.kind == "diverged":
                yield [*render(ev.step, f"**Diverged:** {ev.message}"), download.frame()]
                return
            elif ev.kind in ("done", "cancelled"):
                frame = render(ev.step, "**Done.**" if ev.kind == "done" else "**Stopped.**")
                yield [*frame, download.offer(run.export(ev.step, time.perf_counter() - t0))]
                return

    def toy_stop(self, session: dict[str, Any] | None) -> None:
        """Stop this session's toy run."""
        stop_run(session, "cyclegan_toy")


class _ToyRun:
    """A toy CycleGAN's model, held-out points and history, and how to draw them (:meth:`CycleGANTab.toy_train`)."""

    def __init__(self, lam: Any, steps: Any, seed: Any) -> None:
        self.lam = number(lam, "Cycle weight λ", *TOY_LAMBDA)
        self.steps = integer(steps, "Steps", *TOY_STEPS)
        self.seed = integer(seed, "Seed", 0, 2**31 - 1)
        self.target_a, self.target_b = toy_domains()
        with seeded(self.seed):
            self.model = CycleGAN2D(CycleGAN2DConfig(lambda_cycle=self.lam))
        self.eval_a, self.eval_b = toy_held_out()        # the fixed held-out points of evaluate_toy_cyclegan
        self.hist: dict[str, list[float]] = {"step": [], "cycle": [], "d": []}

    def export(self, steps: int, wall_time_s: float) -> Path:
        """The run's G, F and discriminators as a zip of a Hub-format folder (:func:`gen_core.cards.export_live_run`)
        whose card states the settings and :func:`gen_core.metrics.translation.evaluate_toy_cyclegan` of the model:
        the cycle errors the status shows and the modes each translation covers."""
        metrics = evaluate_toy_cyclegan(self.model)
        settings = {"cycle weight λ": self.lam, "batch": 256, "learning rate": TOY_LR, "seed": self.seed,
                    "steps asked": self.steps}
        note = (f"On {TOY_EVAL_N} fixed held-out points of each cloud (gen_core.metrics.translation.toy_held_out): "
                "`cycle_l1_a` = mean |F(G(x)) - x| per coordinate on the ring (the number the tab's status shows), "
                "`cycle_l1_b` the same through B; `modes_b` / `hq_b_pct`: grid modes that G(ring) captures and its "
                "share of high-quality points, `modes_a` / `hq_a_pct` the ring's under F(grid) (EVALUATION.md's "
                "mode protocol). `python -m gen_core eval FOLDER` recomputes them.")
        return cards.export_live_run(self.model, f"cyclegan-toy-lambda{self.lam:g}-live",
                                     f"gen_core toy CycleGAN, ring of 8 <-> 3 x 3 grid, λ = {self.lam:g}, {steps} "
                                     "steps", "CycleGAN tab, toy", settings, steps, wall_time_s, metrics, note,
                                     "cyclegan2d")

    def render(self, step: int, note: str) -> list[Any]:
        """[translation figure, loss curves, status] of the model as it is at ``step``."""
        with torch.no_grad():
            g_a = self.model.translate(self.eval_a, "a2b")
            back = self.model.translate(g_a, "b2a")
            cyc = float(cycle_consistency_loss(self.eval_a, back))
        fig = toy_figure(self.eval_a, self.eval_b, g_a, back, self.target_b.bounds,
                         title=f"λ = {self.lam:g}, step {step}")
        status = (f"{note} Step {step} of {self.steps}; λ = {self.lam:g}; seed {self.seed}; cycle error mean "
                  f"|F(G(x)) − x| on {TOY_EVAL_N} held-out ring points = **{cyc:.3f}**.")
        span = None if self.hist["step"] else self.steps        # before the first step: the run's span
        return [fig, cycle_curve(self.hist["step"], self.hist["cycle"], self.hist["d"], x_max=span), status]


def _format(value: float, unit: str) -> str:
    if unit == "%":
        return f"{100 * value:.4g}%"
    if unit == "ms":
        return f"{value:.1f} ms"
    return f"{value:.4f}" if value < 1 else f"{value:.1f}"


def scoreboard_markdown(pair: str, rows: list[ScoreRow], n: int) -> str:
    """The scoreboard of the pair's shipped model as a Markdown table (metric, model, baseline, target)."""
    if not rows:
        return f"*The model card of pretrained/cyclegan-{pair} states no held-out metrics.*"
    where = (f"the first {n:,} test pairs unless a row says otherwise" if pair == "sketch"
             else "all test sneakers and ankle boots")
    lines = [f"**Held-out scores of `pretrained/cyclegan-{pair}`**, as its model card states them ({where}; "
             f"`python -m gen_core eval pretrained/cyclegan-{pair} --check` computes them again).", "",
             "| metric | this model | baseline | target (issue 6) |", "|---|---|---|---|"]
    for r in rows:
        base = f"{_format(float(r.baseline), r.unit)} ({r.baseline_name})" if r.baseline is not None else ""
        verdict = "" if r.met is None else (" ✓ met" if r.met else " ✗ missed")
        lines.append(f"| {r.label} | {_format(r.value, r.unit)} | {base} | {r.target}{verdict} |")
    return "\n".join(lines)


def _direction_update(pair: Any) -> Any:
    pair = pair if pair in PAIRS else "sketch"
    return gr.update(choices=[(v, k) for k, v in DIRECTION_LABELS[pair].items()], value="a2b")


def build_tab(models: CycleGANModels | None = None) -> CycleGANTab:
    """Lay out the CycleGAN tab inside the current ``gr.Blocks`` and wire its events."""
    models = models or CycleGANModels.load()
    tab = CycleGANTab(models)
    missing = [PAIR_LABELS[p] for p in PAIRS if p not in models.models]
    # the page opens on test sketch #0 already translated, as a pick from the examples would show it
    first = tab.show_example("sketch", "a2b", 0) if "sketch" in models.models else [None] * 4 + [""]
    with gr.Tab("CycleGAN", id="cyclegan"):
        gr.Markdown("## CycleGAN: unpaired translation")
        gr.Markdown(explainer(models.models), latex_delimiters=LATEX)
        if missing:
            gr.Markdown(f"*Missing pretrained models: {', '.join(missing)}.*")
        with gr.Row():
            pair = gr.Radio([(v, k) for k, v in PAIR_LABELS.items()], value="sketch", label="Domain pair",
                            elem_id="cg-pair")
            direction = gr.Radio([(v, k) for k, v in DIRECTION_LABELS["sketch"].items()], value="a2b",
                                 label="Direction", elem_id="cg-direction")
        with gr.Row():
            with gr.Column():
                examples = gr.Gallery(tab.examples("sketch", "a2b"), label="Pick a test image", columns=6,
                                      height=220, allow_preview=False, elem_id="cg-examples")
                image = ImageInput(first[0], label="Input picture (picked or uploaded, any size; converted to 28×28 grey)",
                                   type="pil", image_mode=None, sources=["upload", "clipboard"], format="png",
                                   height=240, elem_id="cg-input")
                translate_btn = gr.Button("Translate picture", variant="primary", elem_id="cg-translate")
            with gr.Column():
                sketch = gr.Sketchpad(label="…or draw: pick the brush (left), dark on white", type="numpy",
                                      image_mode="RGBA", canvas_size=(280, 280), height=300,
                                      brush=gr.Brush(colors=["#000000", "#ffffff"], default_size=14,
                                                     color_mode="fixed"), elem_id="cg-sketch")
                draw_btn = gr.Button("Translate drawing", elem_id="cg-translate-drawing")
        status = gr.Markdown(first[4], elem_id="cg-status")
        with gr.Row():
            out_y = gr.Image(first[1], label="Translation", format="png", height=240, interactive=False,
                             elem_id="cg-output")
            out_back = gr.Image(first[2], label="Round trip, back to the input's domain", format="png", height=240,
                                interactive=False, elem_id="cg-roundtrip")
            heat = gr.Plot(first[3], label="Cycle error per pixel", elem_id="cg-heatmap")
        gr.Markdown("### Test translations, including the worst")
        # filled when the page opens (``page_load``), not here: computing it would add ~5 s to the server's start
        gallery_note = gr.Markdown("", elem_id="cg-gallery-note")
        gallery = gr.Gallery(label="input | translation | round trip", columns=3, height="auto",
                             object_fit="contain", elem_id="cg-gallery")   # contain: a tile is 3 images wide
        gr.Markdown("### How well it translates: held-out scores and where each class lands")
        scores = gr.Markdown("", elem_id="cg-scores")
        per_class = gr.Plot(None, label="Where the translations land, per class", elem_id="cg-per-class")
        gr.Markdown(PER_CLASS_CAPTION)

        gr.Markdown(
            "### Toy: what cycle consistency changes\nDomain A is a ring of 8 Gaussians, domain B a 3×3 grid of 9 "
            "(gen_core.data.toy2d). Both GAN terms only ask that G(A) looks like B and F(B) like A. With **λ = 0** "
            "nothing ties a point to its image: several ring modes may land on one grid mode, and F(G(x)) lands "
            "anywhere in A. With **λ > 0** G must stay invertible on the ring, so each ring mode keeps its own "
            "target and the round trip comes back (black points on their coloured origins).", latex_delimiters=LATEX)
        with gr.Row():
            lam = Slider(*TOY_LAMBDA, value=10.0, step=0.5, label="Cycle weight λ", elem_id="cg-toy-lambda")
            toy_steps = Slider(*TOY_STEPS, value=1500, step=100, label="Steps", elem_id="cg-toy-steps")
            toy_seed = gr.Number(value=0, precision=0, label="Seed", minimum=0, elem_id="cg-toy-seed")
        with gr.Row():
            toy_btn = gr.Button("Train toy CycleGAN", variant="primary", elem_id="cg-toy-train")
            toy_stop = gr.Button("Stop", variant="stop", elem_id="cg-toy-stop")
        toy0 = tab.toy_preview(10.0, 1500, 0)
        toy_status = gr.Markdown(toy0[2], elem_id="cg-toy-status")
        toy_download = gr.DownloadButton("Download the toy CycleGAN (Hub-format folder, .zip)", visible=False,
                                         elem_id="cg-toy-download")
        toy_plot = gr.Plot(toy0[0], label="Toy translation", elem_id="cg-toy-plot")
        toy_curve = gr.Plot(toy0[1], label="Toy losses", elem_id="cg-toy-curve")

        session = gr.State({})
        outputs = [out_y, out_back, heat, status]
        first_example = gr.Number(0, visible=False)
        shown_outputs = [gallery, gallery_note, scores, per_class]   # follow the pair and direction
        if models.models:
            tab.page_load = (tab.shown, [pair, direction], shown_outputs)
        pair.change(_direction_update, pair, direction, api_name=False).then(
            tab.examples, [pair, direction], examples, api_name=False).then(
            tab.show_example, [pair, direction, first_example], [image, *outputs], api_name=False).then(
            tab.shown, [pair, direction], shown_outputs, api_name=False)
        direction.change(tab.examples, [pair, direction], examples, api_name=False).then(
            tab.show_example, [pair, direction, first_example], [image, *outputs], api_name=False).then(
            tab.gallery, [pair, direction], [gallery, gallery_note], api_name=False)
        examples.select(tab.on_select, [pair, direction], [image, *outputs], api_name=False)
        index = gr.Number(visible=False)
        gr.Button("(API) pick example", visible=False).click(
            tab.pick_example, [pair, direction, index], image, api_name="cyclegan_pick_example")
        gr.Button("(API) show example", visible=False).click(
            tab.show_example, [pair, direction, index], [image, *outputs], api_name="cyclegan_show_example")
        translate_btn.click(tab.translate_image, [pair, direction, image], outputs,
                            api_name="cyclegan_translate_image")
        draw_btn.click(tab.translate_drawing, [pair, direction, sketch], outputs, api_name="cyclegan_translate_drawing")
        gr.Button("(API) gallery", visible=False).click(tab.gallery, [pair, direction], [gallery, gallery_note],
                                                        api_name="cyclegan_gallery")
        gr.Button("(API) quality", visible=False).click(tab.quality, pair, [scores, per_class],
                                                        api_name="cyclegan_quality")
        toy_btn.click(tab.toy_train, [lam, toy_steps, toy_seed, session],
                      [toy_plot, toy_curve, toy_status, toy_download],
                      api_name="cyclegan_toy_train", concurrency_limit=2, concurrency_id="cyclegan-toy")
        toy_stop.click(tab.toy_stop, session, None, api_name="cyclegan_toy_stop", queue=False)
    return tab
