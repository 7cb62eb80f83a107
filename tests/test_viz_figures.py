"""The shared figure helpers of gen_core.viz.figures: the live runs' step axis and one-point series."""

import pytest

from gen_core.viz.avb import kl_tracking_figure
from gen_core.viz.cyclegan import cycle_curve
from gen_core.viz.figures import loss_curves, series_mode, step_axis_range
from gen_core.viz.gan import GANHistory, gan_curves


def test_step_axis_range_spans_the_run_with_a_left_margin():
    assert step_axis_range(500) == [-10.0, 500]
    assert step_axis_range(1500.0) == [-30.0, 1500.0]
    for bad in (0, -3, float("nan")):
        with pytest.raises(ValueError, match="positive step count"):
            step_axis_range(bad)


def test_series_mode_draws_one_point_as_a_marker():
    assert series_mode(1) == "markers" and series_mode(0) == "markers"
    assert series_mode(2) == "lines"


def test_every_live_curve_figure_uses_the_same_step_axis_and_shows_a_step_0_point():
    figs = [loss_curves({"loss": ([0], [5.0])}, x_max=200),
            kl_tracking_figure([0], [1.0], [2.0], x_max=200),
            cycle_curve([0], [0.3], [0.5], x_max=200)]
    h = GANHistory(steps=[0], d_loss=[1.4], g_loss=[0.7], eval_steps=[0], modes=[1], high_quality_pct=[10.0])
    figs.append(gan_curves({"run": h}, n_modes=8, x_max=200))
    for fig in figs:
        assert list(fig.layout.xaxis.range) == [-4.0, 200]
        assert all(t.mode == "markers" for t in fig.data)            # one point each: visible, not an empty line
    assert list(figs[-1].layout.xaxis2.range) == [-4.0, 200]
    # with two points the same figures draw lines
    assert cycle_curve([0, 10], [0.3, 0.2], [0.5, 0.4]).data[0].mode == "lines"
