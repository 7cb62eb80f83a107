"""Plotly figures of the Flows tab: density heatmaps with the test-NLL curve, the film strip and the 1-D panel.

Arrays in (from ``gen_core.metrics.density``), ``go.Figure`` out; no model math and no Gradio here. The figures
stream several times a second during live training, so they are built from plain dicts on a hand-made grid of
axes (``make_subplots`` costs ~10x more) and their arrays are float32, which plotly sends base64-encoded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go

from gen_core.metrics.density import DensityGrid, Frame, Panel1D
from gen_core.viz.figures import LAYOUT, PALETTE

__all__ = ["flow_dashboard", "film_strip", "flow_1d_figure", "axes_grid"]

DENSITY_SCALE = "Viridis"
LOGDET_SCALE = "RdBu_r"  # red: the block raises the density there; blue: it spreads mass out
TITLE_FONT = dict(size=14)
PANEL_FONT = dict(size=12)


def _f32(values: np.ndarray) -> np.ndarray:
    """Values as float32 for the browser: plotly sends numpy arrays base64-encoded, 4 bytes per value."""
    return np.asarray(values, dtype=np.float32)


def axes_grid(rows: int, cols: int, titles: Sequence[str], hgap: float = 0.04, vgap: float = 0.1,
              square: bool = False) -> tuple[dict[str, Any], list[str]]:
    """Layout entries for a ``rows x cols`` grid of axes (row-major) with a title above each panel.

    Returns the layout dict (``xaxis``, ``yaxis``, ``xaxis2``, ... and ``annotations``) and the axis suffixes
    (``""``, ``"2"``, ...) to put in each trace's ``xaxis="x" + suffix``. ``square`` locks each panel's aspect.
    """
    layout: dict[str, Any] = {"annotations": []}
    suffixes = []
    width = (1.0 - hgap * (cols - 1)) / cols
    height = (1.0 - vgap * (rows - 1)) / rows
    for k in range(len(titles)):
        r, c = divmod(k, cols)
        sfx = "" if k == 0 else str(k + 1)
        suffixes.append(sfx)
        x0 = c * (width + hgap)
        y1 = 1.0 - r * (height + vgap)
        x_dom = [max(0.0, round(x0, 6)), min(1.0, round(x0 + width, 6))]
        y_dom = [max(0.0, round(y1 - height, 6)), min(1.0, round(y1, 6))]
        layout[f"xaxis{sfx}"] = dict(domain=x_dom, anchor=f"y{sfx}", showgrid=False, zeroline=False)
        layout[f"yaxis{sfx}"] = dict(domain=y_dom, anchor=f"x{sfx}", showgrid=False, zeroline=False)
        if square:
            layout[f"yaxis{sfx}"].update(scaleanchor=f"x{sfx}", scaleratio=1, constrain="domain")
            layout[f"xaxis{sfx}"].update(constrain="domain")
        layout["annotations"].append(dict(text=titles[k], x=x0 + width / 2, y=y1, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False, font=PANEL_FONT))
    return layout, suffixes


def _heatmap(grid: DensityGrid, sfx: str, colorscale: str, zmin: float | None, zmax: float | None, name: str,
             colorbar: dict[str, Any] | None = None) -> dict[str, Any]:
    """A heatmap trace of a grid-evaluated function on axes ``x{sfx}``/``y{sfx}``; a colour bar when given."""
    return dict(type="heatmap", x=_f32(grid.xs), y=_f32(grid.ys), z=_f32(grid.values), colorscale=colorscale,
                zmin=zmin, zmax=zmax, xaxis="x" + sfx, yaxis="y" + sfx, name=name, showscale=colorbar is not None,
                colorbar=colorbar or {},
                hovertemplate="x=%{x:.2f}<br>y=%{y:.2f}<br>" + name + "=%{z:.3g}<extra></extra>")


def _colorbar(x: float, title: str) -> dict[str, Any]:
    return dict(x=x, len=0.9, thickness=12, title=dict(text=title, side="right"))


def flow_dashboard(target: DensityGrid, model: DensityGrid, samples: np.ndarray, bounds: Sequence[float],
                   steps: Sequence[float], nll: Sequence[float], entropy: float,
                   nll_se: Sequence[float] | None = None, title: str = "", model_label: str = "flow q(x)",
                   nll_title: str = "test NLL vs true entropy H(p)") -> go.Figure:
    """One row of four panels, sent as one figure (one redraw per streamed update):

    1. the target density p(x); 2. the model density q(x) on the same colour scale (capped at the target's peak,
    so a model that over-concentrates saturates); 3. the model's samples ``x = f^{-1}(z)``; 4. the test NLL per
    step with the true entropy H(p) dashed, their gap ``test NLL - H(p) = KL(p || q)`` annotated at the last point.
    A single NLL point (a pretrained flow) is drawn as a marker with its error bar.
    """
    layout, sfx = axes_grid(1, 4, ["target p(x)", model_label, "samples x = f⁻¹(z), z ~ N(0, I)", nll_title],
                            hgap=0.05, square=True)
    # Three squares and a wider curve panel; the density colour bar sits in the gap after the second square.
    domains = [[0.0, 0.19], [0.215, 0.405], [0.49, 0.68], [0.75, 1.0]]
    for k, (s, dom) in enumerate(zip(sfx, domains)):
        layout[f"xaxis{s}"]["domain"] = dom
        layout["annotations"][k]["x"] = 0.5 * (dom[0] + dom[1])
        if k < 3:
            layout[f"xaxis{s}"]["range"] = [bounds[0], bounds[1]]
            layout[f"yaxis{s}"]["range"] = [bounds[2], bounds[3]]
    curve = sfx[3]
    layout[f"yaxis{curve}"] = dict(domain=layout[f"yaxis{curve}"]["domain"], anchor=f"x{curve}", title="nats")
    layout[f"xaxis{curve}"].update(title="training step", showgrid=True)
    peak = float(target.values.max()) if target.values.size and target.values.max() > 0 else None
    steps, nll = [float(v) for v in steps], [float(v) for v in nll]
    err = dict(type="data", array=[float(v) for v in nll_se], visible=True, thickness=1) if nll_se is not None else None
    x_end = max(steps[-1] if steps else 1.0, 1.0)
    data = [
        _heatmap(target, sfx[0], DENSITY_SCALE, 0.0, peak, "p(x)"),
        _heatmap(model, sfx[1], DENSITY_SCALE, 0.0, peak, "q(x)",
                 dict(x=0.412, xanchor="left", len=0.75, thickness=10, tickfont=dict(size=10))),
        dict(type="scatter", x=_f32(samples[:, 0]), y=_f32(samples[:, 1]), mode="markers", xaxis="x" + sfx[2],
             yaxis="y" + sfx[2], marker=dict(size=3, color=PALETTE[0], opacity=0.5), hoverinfo="skip",
             showlegend=False),
        dict(type="scatter", x=steps, y=nll, mode="lines+markers" if len(steps) < 3 else "lines", name="test NLL",
             line=dict(color=PALETTE[0], width=2), marker=dict(size=8), error_y=err, xaxis="x" + curve,
             yaxis="y" + curve),
        dict(type="scatter", x=[0.0, x_end], y=[entropy, entropy], mode="lines", name="true entropy H(p)",
             line=dict(color=PALETTE[3], dash="dash", width=2), xaxis="x" + curve, yaxis="y" + curve),
    ]
    layout[f"xaxis{curve}"]["range"] = [0.0, x_end * 1.05]
    if steps:
        layout["annotations"].append(dict(
            x=steps[-1], y=nll[-1], xref="x" + curve, yref="y" + curve, text=f"gap = {nll[-1] - entropy:.3f} nats",
            showarrow=True, arrowhead=2, ax=-45, ay=-30, font=PANEL_FONT, bgcolor="rgba(255,255,255,0.85)"))
        lo, hi = min(min(nll), entropy), max(max(nll), entropy)
        pad = 0.2 * max(hi - lo, 0.2)
        layout[f"yaxis{curve}"]["range"] = [lo - pad, hi + pad]
    layout.update({**LAYOUT, "height": 400, "margin": dict(l=30, r=20, t=70, b=40),
                   "title": dict(text=title, font=TITLE_FONT),
                   "legend": dict(x=1.0, xanchor="right", y=0.98, yanchor="top", bgcolor="rgba(255,255,255,0.7)",
                                  font=dict(size=11))})
    return go.Figure(data=data, layout=layout)


def _lines_xy(lines: list[np.ndarray], max_jump: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """All grid lines of a frame as one polyline, separated by gaps (NaN, drawn as breaks). A line is also broken
    where two neighbouring points lie more than ``max_jump`` apart: where the flow tears the plane between two
    modes, a straight chord across the gap would show a grid line that is not there."""
    gap = np.full((1, 2), np.nan, dtype=np.float32)
    parts: list[np.ndarray] = []
    for ln in lines:
        pts = _f32(ln)
        cuts = np.flatnonzero(np.linalg.norm(np.diff(pts, axis=0), axis=1) > max_jump) + 1
        for piece in np.split(pts, cuts):
            parts += [piece, gap]
    xy = np.concatenate(parts) if parts else np.zeros((0, 2), np.float32)
    return xy[:, 0], xy[:, 1]


def film_strip(frames: list[Frame], max_cols: int = 5, title: str = "") -> go.Figure:
    """The film strip: one panel per stage from the Gaussian (first) to the data (last), wrapping after
    ``max_cols`` panels. Each panel shows the samples, the pushed grid lines and, behind them, the forward
    ``log |det J|`` of the block that produced the stage (red > 0: the block raises the density there), on one
    colour scale shared by all panels."""
    n = len(frames)
    cols = min(max_cols, n)
    rows = math.ceil(n / cols)
    layout, sfx = axes_grid(rows, cols, [f.title for f in frames], hgap=0.02, vgap=0.08 if rows > 1 else 0.0)
    vals = np.concatenate([f.logdet.values.ravel() for f in frames if f.logdet is not None] or [np.zeros(1)])
    vals = vals[np.isfinite(vals)]
    zmax = max(float(np.quantile(np.abs(vals), 0.98)) if vals.size else 1.0, 0.05)
    data: list[dict[str, Any]] = []
    first_map = True
    for k, frame in enumerate(frames):
        s = sfx[k]
        if frame.logdet is not None:
            bar = _colorbar(1.01, "log|det J| of the block") if first_map else None
            data.append(_heatmap(frame.logdet, s, LOGDET_SCALE, -zmax, zmax, "log|det J|", bar))
            first_map = False
        span = max(frame.bounds[1] - frame.bounds[0], frame.bounds[3] - frame.bounds[2])
        lx, ly = _lines_xy(frame.lines, max_jump=0.25 * span)
        data.append(dict(type="scatter", x=lx, y=ly, mode="lines", xaxis="x" + s, yaxis="y" + s,
                         line=dict(color="rgba(40,40,40,0.45)", width=1), hoverinfo="skip"))
        data.append(dict(type="scatter", x=_f32(frame.points[:, 0]), y=_f32(frame.points[:, 1]),
                         mode="markers", xaxis="x" + s, yaxis="y" + s, hoverinfo="skip",
                         marker=dict(size=2.5, color=PALETTE[1] if k < n - 1 else PALETTE[0])))
        layout[f"xaxis{s}"].update(range=[frame.bounds[0], frame.bounds[1]], showticklabels=False)
        layout[f"yaxis{s}"].update(range=[frame.bounds[2], frame.bounds[3]], showticklabels=False)
    layout.update({**LAYOUT, "height": 240 * rows + 70, "margin": dict(l=20, r=70, t=80, b=20),
                   "title": dict(text=title, font=TITLE_FONT), "showlegend": False})
    for ann in layout["annotations"]:
        ann["font"] = dict(size=10)
    return go.Figure(data=data, layout=layout)


def _bars(edges: np.ndarray, heights: np.ndarray, sfx: str, name: str, color: str) -> dict[str, Any]:
    centres = 0.5 * (edges[1:] + edges[:-1])
    return dict(type="bar", x=_f32(centres), y=_f32(heights), width=float(edges[1] - edges[0]), name=name,
                marker_color=color, opacity=0.45, xaxis="x" + sfx, yaxis="y" + sfx,
                hovertemplate="%{x:.2f}: %{y:.3f}<extra>" + name + "</extra>")


def flow_1d_figure(panel: Panel1D, title: str = "") -> go.Figure:
    """The 1-D panel (lecture notes 001, "1D flow demonstration"): samples x ~ p, the learned f(x), z = f(x)
    against N(0, 1), and the right density p_Z(f(x)) |f'(x)| beside the wrong p_Z(f(x)) with their integrals."""
    layout, s = axes_grid(1, 4, ["x ~ p_data", "learned flow z = f(x)", "z = f(x) vs N(0, 1)",
                                 "right vs wrong density"], hgap=0.06)
    dotted = dict(color="black", dash="dot")
    x, true = _f32(panel.x), _f32(panel.true)
    data = [
        _bars(*panel.x_hist, s[0], "histogram of x", PALETTE[0]),
        dict(type="scatter", x=x, y=true, mode="lines", name="true p(x)", line=dotted, xaxis="x", yaxis="y"),
        dict(type="scatter", x=x, y=_f32(panel.f), mode="lines", name="f(x)", line=dict(color=PALETTE[4], width=2),
             xaxis="x" + s[1], yaxis="y" + s[1]),
        _bars(*panel.z_hist, s[2], "histogram of z = f(x)", PALETTE[2]),
        dict(type="scatter", x=_f32(panel.z_grid), y=_f32(panel.z_pdf), mode="lines", name="N(0, 1)", line=dotted,
             xaxis="x" + s[2], yaxis="y" + s[2]),
        dict(type="scatter", x=x, y=true, mode="lines", name="true p(x)", showlegend=False, line=dotted,
             xaxis="x" + s[3], yaxis="y" + s[3]),
        dict(type="scatter", x=x, y=_f32(panel.right), mode="lines", line=dict(color=PALETTE[0], width=2.5),
             name=f"right: p_Z(f(x))·|f'(x)|, ∫ = {panel.right_mass:.2f}", xaxis="x" + s[3], yaxis="y" + s[3]),
        dict(type="scatter", x=x, y=_f32(panel.wrong), mode="lines", line=dict(color=PALETTE[3], width=2.5),
             name=f"wrong: p_Z(f(x)), ∫ = {panel.wrong_mass:.2f}", xaxis="x" + s[3], yaxis="y" + s[3]),
    ]
    for k, (xt, yt) in enumerate([("x", "density"), ("x", "z"), ("z", "density"), ("x", "density")]):
        layout[f"xaxis{s[k]}"]["title"] = dict(text=xt)
        layout[f"yaxis{s[k]}"]["title"] = dict(text=yt, standoff=2)
    layout.update({**LAYOUT, "height": 380, "margin": dict(l=50, r=20, t=70, b=40), "barmode": "overlay",
                   "bargap": 0, "title": dict(text=title, font=TITLE_FONT),
                   "legend": dict(orientation="h", y=-0.22, x=0.0)})
    return go.Figure(data=data, layout=layout)
