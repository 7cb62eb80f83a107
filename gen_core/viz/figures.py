"""Plotly figure builders shared by every tab: curves, latent maps, bar charts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

# Every figure's look. Set as plotly's default rather than as ``layout.template`` on each figure: a template named
# in ``update_layout`` is rebuilt and re-validated for every figure (~15 ms each, measured; 12 figures at start-up
# cost 1.3 s), while the default is applied once per figure without validation (~1 ms).
pio.templates.default = "plotly_white"

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]
LAYOUT = dict(margin=dict(l=50, r=20, t=40, b=40), height=340)


def step_axis_range(x_max: float) -> list[float]:
    """The step axis of a live run's curves fixed to the span of the run, [0, x_max], with a 2% margin on the
    left so a step-0 marker (a preview before training) is drawn whole rather than cut in half at the edge."""
    if not x_max > 0:
        raise ValueError(f"x_max must be a positive step count, got {x_max!r}")
    return [-0.02 * x_max, x_max]


def series_mode(n_points: int) -> str:
    """Plotly's trace mode for a series of ``n_points``: a line, or a marker when there is one point (a line
    through a single point draws nothing, so a step-0 preview would look empty)."""
    return "lines" if n_points > 1 else "markers"


def loss_curves(history: dict[str, tuple[Sequence[float], Sequence[float]]], title: str = "Training curves",
                y_title: str = "nats per image", log_y: bool = False, x_max: float | None = None) -> go.Figure:
    """One line per named series; ``history[name] = (steps, values)``; ``log_y`` for series of different magnitudes
    (positive values only). A series of one point (step 0, before training) is drawn as a marker; ``x_max`` fixes
    the step axis to [0, x_max] (a preview shows the span the run will cover), with a 2% margin so the
    step-0 marker is not cut in half."""
    fig = go.Figure()
    for i, (name, (steps, values)) in enumerate(history.items()):
        fig.add_trace(go.Scatter(x=list(steps), y=list(values), mode=series_mode(len(steps)),
                                 name=name, line=dict(color=PALETTE[i % len(PALETTE)])))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=y_title, **LAYOUT)
    if log_y:
        fig.update_yaxes(type="log")
    if x_max is not None:
        fig.update_xaxes(range=step_axis_range(x_max))
    return fig


def latent_map(codes: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
               point: tuple[float, float] | None = None, extent: float = 3.0,
               title: str = "Test-set posterior means") -> go.Figure:
    """Scatter of 2-D codes coloured by class, with an optional highlighted point (the one being decoded)."""
    fig = go.Figure()
    for c, name in enumerate(class_names):
        sel = labels == c
        fig.add_trace(go.Scattergl(x=codes[sel, 0], y=codes[sel, 1], mode="markers", name=name,
                                   marker=dict(size=3, color=PALETTE[c % len(PALETTE)], opacity=0.6)))
    if point is not None:
        fig.add_trace(go.Scatter(x=[point[0]], y=[point[1]], mode="markers", name="decoded point",
                                 marker=dict(size=16, color="black", symbol="x")))
    fig.update_layout(title=title, xaxis=dict(range=[-extent, extent], title="z1"),
                      yaxis=dict(range=[-extent, extent], title="z2", scaleanchor="x"), **{**LAYOUT, "height": 460})
    return fig


def bar_chart(names: Sequence[str], values: Sequence[float], title: str, y_title: str) -> go.Figure:
    """A simple labelled bar chart (e.g. mean KL per latent dim)."""
    fig = go.Figure(go.Bar(x=list(names), y=list(values), marker_color=PALETTE[0]))
    fig.update_layout(title=title, yaxis_title=y_title, **{**LAYOUT, "height": 280})
    return fig


def message_figure(text: str) -> go.Figure:
    """An empty figure that says why it is empty (a model is missing)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14))
    fig.update_layout(height=260, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      margin=dict(l=20, r=20, t=20, b=20))
    return fig
