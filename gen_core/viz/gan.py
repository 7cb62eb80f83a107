"""Plotly figures of the GAN tab: the live panels (samples, critic heatmap, generator manifold, gradient arrows),
training curves (one or two runs overlaid), the snapshot timeline, and the two explainers.

Arrays in (computed by ``gen_core.models.gan`` and ``gen_core.metrics.modes``), ``go.Figure`` out; no model math
and no Gradio here. The live figures stream several times a second, so they are built from plain dicts on a
hand-made grid of axes (``make_subplots`` is much slower) and their numbers are rounded to 4 decimals (a smaller
JSON payload for the browser). Markers are SVG (Gradio redraws a plot on every update, and WebGL
markers would open a new WebGL context each time until the browser drops them); each marker costs ~40 us to draw,
so the live panels carry a few hundred points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from gen_core.viz.figures import PALETTE, series_mode, step_axis_range

__all__ = [
    "StreamFigure",
    "GANHistory",
    "Snapshot",
    "live_panels",
    "gan_curves",
    "snapshot_timeline",
    "optimal_discriminator_figure",
    "generator_loss_figure",
    "REAL_COLOUR",
    "FAKE_COLOUR",
]

REAL_COLOUR = "#1f77b4"
FAKE_COLOUR = "#ff7f0e"
CAPTURED = "#2ca02c"
MISSED = "#d62728"
# The look of plotly's "plotly_white" template, written out: the template itself is ~8 KB of JSON that every
# streamed figure would carry (and copy) otherwise.
_AXIS = dict(gridcolor="#EBF0F8", linecolor="#EBF0F8", zerolinecolor="#EBF0F8", ticks="")
BASE = dict(plot_bgcolor="white", paper_bgcolor="white", colorway=PALETTE, margin=dict(l=40, r=20, t=50, b=35), font=dict(size=12),
            legend=dict(orientation="h", y=-0.08, x=0.5, xanchor="center"))


class StreamFigure(go.Figure):
    """A ``go.Figure`` that skips plotly's per-property validation when built and when serialised.

    Validation costs ~50 ms per live figure (more than the figure itself); the dicts in this module follow the
    plotly schema, and tests/test_gan_tab.py re-validates every figure with a plain ``go.Figure(fig.to_dict())``.
    """

    def __init__(self, data: list[dict[str, Any]], layout: dict[str, Any]) -> None:
        for key, axis in layout.items():
            if key.startswith(("xaxis", "yaxis")):
                for k, v in _AXIS.items():
                    axis.setdefault(k, v)
        # An empty template: otherwise plotly's default template (6.5 KB of JSON) rides along in every update.
        layout.setdefault("template", {})
        super().__init__(data=data, layout=layout, _validate=False)

    def to_json(self, *args: Any, **kwargs: Any) -> str:  # what gr.Plot calls
        """JSON for plotly.js (numpy arrays as typed arrays), without re-validation."""
        return pio.to_json(self, validate=False, engine="orjson" if _HAS_ORJSON else "json")


try:
    import orjson  # noqa: F401  (plotly's fast JSON engine)
    _HAS_ORJSON = True
except ImportError:  # pragma: no cover - the json engine gives the same text, slower
    _HAS_ORJSON = False


@dataclass
class GANHistory:
    """Curves of one training run: losses at every logged step, mode metrics at every evaluation."""

    steps: list[int] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    modes: list[int] = field(default_factory=list)
    high_quality_pct: list[float] = field(default_factory=list)

    def consistent(self) -> GANHistory:
        """A copy cut to equal lengths: safe to draw while another thread is appending to this history."""
        n = min(len(self.steps), len(self.d_loss), len(self.g_loss))
        m = min(len(self.eval_steps), len(self.modes), len(self.high_quality_pct))
        return GANHistory(self.steps[:n], self.d_loss[:n], self.g_loss[:n], self.eval_steps[:m], self.modes[:m],
                          self.high_quality_pct[:m])


@dataclass
class Snapshot:
    """Generated samples at one step, with the mode report of that moment."""

    step: int
    fake: np.ndarray                 # (n, 2)
    modes: int
    n_modes: int
    high_quality_pct: float
    captured: np.ndarray             # (K,) bool: which modes hold at least one high-quality sample


def _r(a: np.ndarray | Sequence[float], decimals: int = 4) -> np.ndarray:
    """Rounded float array (numpy arrays validate ~10x faster in plotly than lists; NaN draws as a gap)."""
    return np.round(np.asarray(a, dtype=np.float64), decimals).astype(np.float32)


def _grid(n: int, titles: Sequence[str], bounds: Sequence[float] | None, hgap: float = 0.05, top: float = 1.0,
          bottom: float = 0.0) -> tuple[dict[str, Any], list[str]]:
    """Layout for ``n`` side-by-side square panels with a title above each; returns (layout, axis suffixes)."""
    layout: dict[str, Any] = {"annotations": []}
    width = (1.0 - hgap * (n - 1)) / n
    suffixes = []
    for k in range(n):
        sfx = "" if k == 0 else str(k + 1)
        suffixes.append(sfx)
        x0 = k * (width + hgap)
        xa: dict[str, Any] = dict(domain=[x0, x0 + width], anchor=f"y{sfx}", showgrid=False, zeroline=False,
                                  constrain="domain")
        ya: dict[str, Any] = dict(domain=[bottom, top], anchor=f"x{sfx}", showgrid=False, zeroline=False,
                                  scaleanchor=f"x{sfx}", scaleratio=1, constrain="domain")
        if bounds is not None:
            xa["range"] = [bounds[0], bounds[1]]
            ya["range"] = [bounds[2], bounds[3]]
        layout[f"xaxis{sfx}"], layout[f"yaxis{sfx}"] = xa, ya
        layout["annotations"].append(dict(text=titles[k], x=x0 + width / 2, y=top, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=dict(size=13)))
    return layout, suffixes


def _centres_traces(centres: np.ndarray, captured: np.ndarray | None, sfx: str, show_legend: bool) -> list[dict]:
    if captured is None:
        return [dict(type="scatter", x=_r(centres[:, 0]), y=_r(centres[:, 1]), mode="markers", name="mode centres",
                     marker=dict(symbol="circle-open", size=11, color="#444"), xaxis="x" + sfx, yaxis="y" + sfx,
                     showlegend=show_legend, hoverinfo="skip")]
    out = []
    for mask, name, colour in ((captured, "mode captured", CAPTURED), (~captured, "mode missed", MISSED)):
        out.append(dict(type="scatter", x=_r(centres[mask, 0]), y=_r(centres[mask, 1]), mode="markers", name=name,
                        marker=dict(symbol="circle-open", size=12, color=colour, line=dict(width=2.5)),
                        xaxis="x" + sfx, yaxis="y" + sfx, showlegend=show_legend, hoverinfo="skip"))
    return out


def _arrow_segments(origins: np.ndarray, vectors: np.ndarray, length: float) -> tuple[np.ndarray, np.ndarray]:
    """Line segments (with None breaks) for arrows of the given display length, heads as two short strokes."""
    norms = np.linalg.norm(vectors, axis=1)
    ok = np.isfinite(norms)
    top = float(np.percentile(norms[ok], 90)) if ok.any() else 0.0
    if top <= 0.0:
        return np.zeros(0), np.zeros(0)
    # the 90th-percentile arrow is `length` long, the rest in proportion, the longest capped at 1.5 x length
    v = vectors[ok] / top * length
    origins = origins[ok]
    v *= np.minimum(1.0, 1.5 * length / np.maximum(np.linalg.norm(v, axis=1), 1e-12))[:, None]
    tips = origins + v
    back = -v * 0.35
    c, s = np.cos(0.45), np.sin(0.45)
    left = np.stack([c * back[:, 0] - s * back[:, 1], s * back[:, 0] + c * back[:, 1]], axis=1)
    right = np.stack([c * back[:, 0] + s * back[:, 1], -s * back[:, 0] + c * back[:, 1]], axis=1)
    nan = np.full(len(origins), np.nan)
    # per arrow: origin, tip, gap, left barb, tip, right barb, gap
    xs = np.stack([origins[:, 0], tips[:, 0], nan, tips[:, 0] + left[:, 0], tips[:, 0], tips[:, 0] + right[:, 0], nan], 1)
    ys = np.stack([origins[:, 1], tips[:, 1], nan, tips[:, 1] + left[:, 1], tips[:, 1], tips[:, 1] + right[:, 1], nan], 1)
    return _r(xs.reshape(-1)), _r(ys.reshape(-1))


def live_panels(real: np.ndarray, fake: np.ndarray, centres: np.ndarray, captured: np.ndarray | None,
                bounds: Sequence[float], heat: tuple[np.ndarray, np.ndarray, np.ndarray], heat_label: str,
                arrow_origins: np.ndarray, arrow_vectors: np.ndarray, manifold: np.ndarray,
                title: str = "", height: int = 440) -> StreamFigure:
    """Three panels: (1) real vs generated samples with the generator-loss gradient arrows on some fakes and the
    mode centres (green: captured, red: missed); (2) the critic over the plane as a heatmap with the fakes on top;
    (3) the generator's manifold, a grid of z lines pushed through G, over the real samples.

    ``heat = (xs (n,), ys (m,), values (m, n))``; ``manifold``: (L, P, 2) polylines.
    """
    layout, sfx = _grid(3, ["real vs generated · arrows: where G pushes fakes",
                            f"critic: {heat_label}", "generator manifold: z-grid through G"], bounds, top=0.93)
    span = float(bounds[1] - bounds[0])
    traces: list[dict] = []
    traces.append(dict(type="scatter", x=_r(real[:, 0]), y=_r(real[:, 1]), mode="markers", name="real",
                       marker=dict(size=3, color=REAL_COLOUR, opacity=0.5), xaxis="x", yaxis="y", hoverinfo="skip"))
    traces.append(dict(type="scatter", x=_r(fake[:, 0]), y=_r(fake[:, 1]), mode="markers", name="generated",
                       marker=dict(size=3, color=FAKE_COLOUR, opacity=0.6), xaxis="x", yaxis="y", hoverinfo="skip"))
    ax, ay = _arrow_segments(arrow_origins, arrow_vectors, 0.08 * span)
    traces.append(dict(type="scatter", x=ax, y=ay, mode="lines", name="-grad of G's loss",
                       line=dict(color="#333", width=1), xaxis="x", yaxis="y", hoverinfo="skip"))
    traces += _centres_traces(centres, captured, "", True)
    xs, ys, values = heat
    finite = values[np.isfinite(values)]
    zmin, zmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if heat_label.startswith("D(x)"):
        zmin, zmax = 0.0, 1.0
    traces.append(dict(type="heatmap", x=_r(xs), y=_r(ys), z=_r(values), colorscale="RdBu_r",
                       zmin=zmin, zmax=zmax, xaxis="x2", yaxis="y2", showscale=True,
                       colorbar=dict(len=0.7, thickness=10, x=0.655, y=0.45), hoverinfo="skip"))
    traces.append(dict(type="scatter", x=_r(fake[:, 0]), y=_r(fake[:, 1]), mode="markers", name="generated",
                       marker=dict(size=3, color="black", opacity=0.5), xaxis="x2", yaxis="y2", showlegend=False,
                       hoverinfo="skip"))
    traces.append(dict(type="scatter", x=_r(real[:, 0]), y=_r(real[:, 1]), mode="markers", name="real",
                       marker=dict(size=3, color=REAL_COLOUR, opacity=0.25), xaxis="x3", yaxis="y3",
                       showlegend=False, hoverinfo="skip"))
    gap = np.full((manifold.shape[0], 1), np.nan)
    mx = _r(np.concatenate([manifold[:, :, 0], gap], axis=1).reshape(-1))
    my = _r(np.concatenate([manifold[:, :, 1], gap], axis=1).reshape(-1))
    traces.append(dict(type="scatter", x=mx, y=my, mode="lines", name="G(z-grid)",
                       line=dict(color=FAKE_COLOUR, width=1), xaxis="x3", yaxis="y3", hoverinfo="skip"))
    layout.update(BASE, height=height, title=dict(text=title, x=0.5, xanchor="center", y=0.98, font=dict(size=14)))
    layout["margin"] = dict(l=30, r=10, t=45, b=20)
    return StreamFigure(traces, layout)


def gan_curves(runs: dict[str, GANHistory], n_modes: int, title: str = "Training curves", height: int = 380,
               x_max: int | None = None) -> StreamFigure:
    """Left: discriminator and generator losses; right: modes captured and % high-quality samples (2,500 samples,
    EVALUATION.md protocol). Several runs (A/B) are overlaid, one colour per run; G dashed, HQ% dotted. ``x_max``
    fixes both step axes to the run's span (`step_axis_range`: a step-0 preview shows the span of the run to come,
    its single points as markers)."""
    layout: dict[str, Any] = dict(
        xaxis=dict(domain=[0.0, 0.44], title=dict(text="generator step"), anchor="y"),
        yaxis=dict(title=dict(text="loss (batch mean)"), anchor="x"),
        xaxis2=dict(domain=[0.54, 0.94], title=dict(text="generator step"), anchor="y2"),
        yaxis2=dict(title=dict(text="modes captured"), range=[-0.3, n_modes + 0.5], anchor="x2"),
        yaxis3=dict(title=dict(text="% high quality"), range=[0, 100], overlaying="y2", side="right", anchor="x2",
                    showgrid=False),
    )
    traces: list[dict] = []
    for i, (name, h) in enumerate(runs.items()):
        colour = PALETTE[(2 * i) % len(PALETTE)] if len(runs) > 1 else None
        c_d = colour or PALETTE[0]
        c_g = colour or PALETTE[1]
        prefix = f"{name}: " if len(runs) > 1 else ""
        steps, evals = np.asarray(h.steps), np.asarray(h.eval_steps)
        step_mode, eval_mode = series_mode(len(steps)), series_mode(len(evals))
        traces.append(dict(type="scatter", x=steps, y=_r(h.d_loss), mode=step_mode, name=f"{prefix}D loss",
                           line=dict(color=c_d, width=1.5), xaxis="x", yaxis="y"))
        traces.append(dict(type="scatter", x=steps, y=_r(h.g_loss), mode=step_mode, name=f"{prefix}G loss",
                           line=dict(color=c_g, width=1.5, dash="dash"), xaxis="x", yaxis="y"))
        traces.append(dict(type="scatter", x=evals, y=np.asarray(h.modes), mode=eval_mode, name=f"{prefix}modes",
                           line=dict(color=colour or PALETTE[2], width=2.5, shape="hv"), xaxis="x2", yaxis="y2"))
        traces.append(dict(type="scatter", x=evals, y=_r(h.high_quality_pct, 1), mode=eval_mode,
                           name=f"{prefix}% HQ", line=dict(color=colour or PALETTE[3], width=1.5, dash="dot"),
                           xaxis="x2", yaxis="y3"))
    if x_max is not None:
        layout["xaxis"]["range"] = layout["xaxis2"]["range"] = step_axis_range(x_max)
    layout.update(BASE, height=height, title=dict(text=title, x=0.5, xanchor="center", font=dict(size=14)))
    layout["margin"] = dict(l=50, r=50, t=50, b=40)
    layout["legend"] = dict(orientation="h", y=-0.22, x=0.5, xanchor="center")
    return StreamFigure(traces, layout)


def snapshot_timeline(snapshots: Sequence[Snapshot], centres: np.ndarray, bounds: Sequence[float],
                      title: str = "Timeline: generated samples when the modes changed (green: captured, red: "
                                   "missed)", height: int = 260) -> StreamFigure:
    """Small multiples of the generated samples over training, each titled with its step and modes captured; the
    mode centres are green when captured and red when missed, so modes dropped and regained stand out."""
    shots = list(snapshots)
    if not shots:
        layout = dict(BASE, height=height, title=dict(text=title, x=0.5, xanchor="center", font=dict(size=14)),
                      xaxis=dict(visible=False), yaxis=dict(visible=False),
                      annotations=[dict(text="Snapshots appear here while training runs.", showarrow=False,
                                        x=0.5, y=0.5, xref="paper", yref="paper")])
        return StreamFigure([], layout)
    titles = [f"step {s.step}<br>{s.modes}/{s.n_modes} modes · {s.high_quality_pct:.0f}% HQ" for s in shots]
    layout, sfx = _grid(len(shots), titles, bounds, hgap=0.015, top=0.8)
    traces: list[dict] = []
    for k, (s, x) in enumerate(zip(shots, sfx)):
        traces.append(dict(type="scatter", x=_r(s.fake[:, 0], 3), y=_r(s.fake[:, 1], 3), mode="markers",
                           marker=dict(size=3, color=FAKE_COLOUR, opacity=0.7), xaxis="x" + x, yaxis="y" + x,
                           showlegend=False, hoverinfo="skip"))
        traces += _centres_traces(centres, s.captured, x, False)
        layout[f"xaxis{x}"].update(showticklabels=False)
        layout[f"yaxis{x}"].update(showticklabels=False)
    layout.update(BASE, height=height, title=dict(text=title, x=0.5, xanchor="center", font=dict(size=14)))
    layout["margin"] = dict(l=10, r=10, t=50, b=10)
    return StreamFigure(traces, layout)


def optimal_discriminator_figure(x: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, d_star: np.ndarray,
                                 title: str) -> StreamFigure:
    """The densities of p_data and p_g and the optimal discriminator ``D* = p_data / (p_data + p_g)``
    (right axis, 0 to 1)."""
    step = max(1, len(x) // 800)
    xs = _r(x[::step])
    # show where either density is visible: mass above 0.1% of the larger peak
    visible = np.flatnonzero(np.maximum(p_data, p_g) > 1e-3 * max(float(p_data.max()), float(p_g.max())))
    x_range = [float(x[visible[0]]), float(x[visible[-1]])] if visible.size else [float(x[0]), float(x[-1])]
    traces = [
        dict(type="scatter", x=xs, y=_r(p_data[::step]), name="p_data", line=dict(color=REAL_COLOUR, width=2),
             fill="tozeroy", fillcolor="rgba(31,119,180,0.15)"),
        dict(type="scatter", x=xs, y=_r(p_g[::step]), name="p_g", line=dict(color=FAKE_COLOUR, width=2),
             fill="tozeroy", fillcolor="rgba(255,127,14,0.15)"),
        dict(type="scatter", x=xs, y=_r(d_star[::step]), name="D*(x)", yaxis="y2",
             line=dict(color="black", width=2, dash="dash")),
    ]
    layout = dict(BASE, height=330, title=dict(text=title, x=0.5, xanchor="center", font=dict(size=13)),
                  xaxis=dict(title=dict(text="x"), range=x_range), yaxis=dict(title=dict(text="density")),
                  yaxis2=dict(title=dict(text="D*(x)"), range=[0, 1.02], overlaying="y", side="right", showgrid=False))
    layout["legend"] = dict(orientation="h", y=-0.25, x=0.5, xanchor="center")
    return StreamFigure(traces, layout)


def generator_loss_figure(d: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> StreamFigure:
    """Left: the saturating ``log(1 - D)`` and non-saturating ``-log D`` generator losses against D(G(z));
    right: their gradients with respect to the discriminator's logit."""
    names = {"minimax": "saturating (minimax): log(1 - D)", "non_saturating": "non-saturating: -log D"}
    colours = {"minimax": PALETTE[3], "non_saturating": PALETTE[2]}
    traces = []
    for key, (loss, grad) in curves.items():
        traces.append(dict(type="scatter", x=_r(d), y=_r(loss), name=names[key], line=dict(color=colours[key], width=2),
                           xaxis="x", yaxis="y", legendgroup=key))
        traces.append(dict(type="scatter", x=_r(d), y=_r(grad), name=f"gradient: {names[key].split(':')[0]}",
                           line=dict(color=colours[key], width=2, dash="dash"), xaxis="x2", yaxis="y2",
                           legendgroup=key, showlegend=False))
    layout = dict(BASE, height=330, title=dict(text="Generator loss (left) and its gradient w.r.t. the logit "
                                                    "(right) against D(G(z))", x=0.5, xanchor="center", font=dict(size=13)),
                  xaxis=dict(domain=[0, 0.45], title=dict(text="D(G(z))"), anchor="y"), yaxis=dict(title=dict(text="loss"), anchor="x"),
                  xaxis2=dict(domain=[0.55, 1], title=dict(text="D(G(z))"), anchor="y2"),
                  yaxis2=dict(title=dict(text="d loss / d logit"), anchor="x2"))
    layout["legend"] = dict(orientation="h", y=-0.25, x=0.5, xanchor="center")
    return StreamFigure(traces, layout)
