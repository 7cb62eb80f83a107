"""Figures of the CycleGAN tab: the per-pixel cycle-error heatmap, the gallery tiles, where translations land per
class, and the toy 2-D translation.

Tensors in, plotly figures (or uint8 arrays for image components) out; no Gradio here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import Tensor

from gen_core.viz.figures import LAYOUT, PALETTE, series_mode, step_axis_range
from gen_core.viz.images import tile_images, to_uint8

__all__ = ["cycle_error_heatmap", "translation_tile", "toy_figure", "mode_colours", "cycle_curve",
           "translation_confusion_figure"]


def cycle_error_heatmap(error: Tensor, title: str = "Cycle error |F(G(x)) - x| per pixel") -> go.Figure:
    """A 28x28 heatmap of per-pixel errors in [0, 1] (fixed colour range, so maps of different images compare)."""
    err = error.detach().float().cpu().reshape(error.shape[-2], error.shape[-1]).numpy()
    fig = go.Figure(go.Heatmap(z=err[::-1], zmin=0.0, zmax=1.0, colorscale="Inferno",
                               colorbar=dict(title="|error|"),
                               hovertemplate="row %{customdata}, col %{x}: %{z:.3f}<extra></extra>",
                               customdata=np.repeat(np.arange(err.shape[0])[::-1, None], err.shape[1], axis=1)))
    fig.update_layout(title=f"{title}<br><sup>mean {err.mean():.3f}, max {err.max():.3f}</sup>",
                      xaxis=dict(showticklabels=False, constrain="domain"),
                      yaxis=dict(showticklabels=False, scaleanchor="x"),
                      **{**LAYOUT, "height": 330, "margin": dict(l=10, r=10, t=60, b=10)})
    return fig


def translation_tile(x: Tensor, y: Tensor, back: Tensor, scale: int = 4) -> np.ndarray:
    """One gallery tile: input | translation | round trip, side by side, (28 scale + pads) uint8."""
    return tile_images(torch.stack([x.reshape(1, 28, 28), y.reshape(1, 28, 28), back.reshape(1, 28, 28)]),
                       ncol=3, scale=scale, pad=2, pad_value=0.5)


def big_image(x: Tensor, scale: int = 8) -> np.ndarray:
    """One 28x28 image in [0, 1] as a pixelated uint8 array ``scale`` times larger."""
    return to_uint8(x.reshape(28, 28), scale)


def mode_colours(points: Tensor, n_colours: int = 8) -> list[str]:
    """A colour per point from its angle around the origin (the ring's modes get distinct colours)."""
    ang = torch.atan2(points[:, 1], points[:, 0]).cpu().numpy()
    idx = np.round((ang % (2 * np.pi)) / (2 * np.pi) * n_colours).astype(int) % n_colours
    return [PALETTE[i % len(PALETTE)] for i in idx]


def toy_figure(a: Tensor, b: Tensor, g_a: Tensor, f_g_a: Tensor, bounds: tuple[float, float, float, float],
               title: str = "") -> go.Figure:
    """Two panels. Left: domain B's points (grey) and G(x) for x in A, each coloured by the ring mode x came from.
    Right: domain A's points x (coloured) and their round trips F(G(x)) (black), with segments x -> F(G(x))."""
    cols = mode_colours(a)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("G(x) over domain B: colour = mode of x",
                                                        "x (colour) and F(G(x)) (black)"),
                        horizontal_spacing=0.08)
    b_np, a_np, g_np, r_np = (t.detach().cpu().numpy() for t in (b, a, g_a, f_g_a))
    fig.add_trace(go.Scattergl(x=b_np[:, 0], y=b_np[:, 1], mode="markers", name="domain B (real)",
                               marker=dict(size=3, color="#bbbbbb")), 1, 1)
    fig.add_trace(go.Scattergl(x=g_np[:, 0], y=g_np[:, 1], mode="markers", name="G(x)",
                               marker=dict(size=4, color=cols)), 1, 1)
    n = min(200, a_np.shape[0])
    seg_x = np.stack([a_np[:n, 0], r_np[:n, 0], np.full(n, np.nan)], 1).ravel()
    seg_y = np.stack([a_np[:n, 1], r_np[:n, 1], np.full(n, np.nan)], 1).ravel()
    fig.add_trace(go.Scattergl(x=seg_x, y=seg_y, mode="lines", name="x -> F(G(x))",
                               line=dict(width=0.6, color="rgba(0,0,0,0.35)")), 1, 2)
    fig.add_trace(go.Scattergl(x=a_np[:, 0], y=a_np[:, 1], mode="markers", name="x in A",
                               marker=dict(size=4, color=cols)), 1, 2)
    fig.add_trace(go.Scattergl(x=r_np[:, 0], y=r_np[:, 1], mode="markers", name="F(G(x))",
                               marker=dict(size=3, color="black")), 1, 2)
    lo, hi = min(bounds[0], bounds[2]), max(bounds[1], bounds[3])
    for c in (1, 2):
        fig.update_xaxes(range=[lo, hi], row=1, col=c)
        fig.update_yaxes(range=[lo, hi], scaleanchor=f"x{'' if c == 1 else c}", row=1, col=c)
    fig.update_layout(title=title, showlegend=False, **{**LAYOUT, "height": 420})
    return fig


def cycle_curve(steps: Sequence[int], cycle: Sequence[float], d_loss: Sequence[float],
                x_max: int | None = None) -> go.Figure:
    """Cycle L1 of A and the discriminators' loss against the step of a live toy run; ``x_max`` fixes the step
    axis to the run's span (`step_axis_range`: a step-0 preview shows the span of the run to come, its one point
    as a marker)."""
    mode = series_mode(len(steps))
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(steps), y=list(cycle), mode=mode, name="cycle L1 ||F(G(x)) - x||",
                             line=dict(color=PALETTE[3])))
    fig.add_trace(go.Scatter(x=list(steps), y=list(d_loss), mode=mode, name="D loss (LSGAN, A + B)",
                             line=dict(color=PALETTE[0])))
    fig.update_layout(title="Live run", xaxis_title="step", yaxis_title="loss", **{**LAYOUT, "height": 300})
    if x_max is not None:
        fig.update_xaxes(range=step_axis_range(x_max))
    return fig


def translation_confusion_figure(conf: Any, class_names: Sequence[str]) -> go.Figure:
    """Two panels of a :class:`gen_core.metrics.translation.TranslationConfusion`. Left: a heatmap, one row per
    source class (or direction), one column per class the classifier calls the translation, in % of the row, the
    expected class outlined. Right: per row, the share called the expected class beside the nearest-neighbour
    baseline's (when there is one) and the classifier's accuracy on real images of that class."""
    shares = conf.shares.numpy() * 100.0
    rows = list(conf.row_names)
    n_rows = len(rows)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.16,
                        subplot_titles=("classifier's call on the translation (% of the row)",
                                        "called the expected class (%)"))
    fig.add_trace(go.Heatmap(z=shares[::-1].tolist(), x=list(class_names), y=rows[::-1], zmin=0, zmax=100,
                             colorscale="Blues", showscale=False, texttemplate="%{z:.0f}",
                             hovertemplate="%{y} called %{x}: %{z:.1f}%<extra></extra>"), 1, 1)
    for r, c in enumerate(conf.expected):   # outline each row's expected cell
        y = n_rows - 1 - r
        fig.add_shape(type="rect", x0=c - 0.5, x1=c + 0.5, y0=y - 0.5, y1=y + 0.5, line=dict(color="#d62728", width=2),
                      row=1, col=1)
    bars = [("CycleGAN translation", conf.expected_rate, PALETTE[0])]
    if conf.nn_rate is not None:
        bars.append(("nearest-neighbour baseline", conf.nn_rate, PALETTE[1]))
    bars.append(("classifier on real images of the class", conf.real_rate, "#9a9a9a"))
    for name, rate, colour in bars:
        values = (rate.numpy()[::-1] * 100.0).tolist()   # plain lists: the JSON keeps the numbers readable
        fig.add_trace(go.Bar(x=values, y=rows[::-1], orientation="h", name=name, marker_color=colour,
                             hovertemplate=f"%{{y}}: %{{x:.1f}}% ({name})<extra></extra>"), 1, 2)
    fig.update_xaxes(title_text="classifier's call", tickangle=-35, row=1, col=1)
    fig.update_xaxes(range=[max(0.0, float(min(r.min() for _, r, _ in bars)) * 100.0 - 10.0), 100.0], row=1, col=2)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    n = int(conf.counts.sum())
    fig.update_layout(title=f"Where the translations land: {conf.overall:.1%} called the expected class "
                            f"({n:,} test images)",
                      barmode="group", bargap=0.25, legend=dict(orientation="h", y=-0.28, x=0.55),
                      **{**LAYOUT, "height": max(300, 170 + 38 * n_rows), "margin": dict(l=10, r=20, t=70, b=40)})
    return fig
