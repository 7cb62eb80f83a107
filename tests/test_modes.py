"""Mode-coverage metrics on known answers (EVALUATION.md protocol) and the 2-D histogram divergences."""

from __future__ import annotations

import math

import pytest
import torch

from gen_core.data.toy2d import Grid, Ring
from gen_core.metrics.modes import (N_SAMPLES, expected_high_quality_fraction, histogram2d, histogram_divergences,
                                    js_divergence, kl_divergence, mode_report, nearest_mode)


@pytest.mark.parametrize("target", [Ring(), Grid()], ids=["ring", "grid"])
def test_samples_of_the_target_capture_every_mode_with_989_percent_hq(target):
    hq = []
    for seed in range(8):
        r = mode_report(target.sample(N_SAMPLES, torch.Generator().manual_seed(seed)), target.mode_centres, target.std)
        assert r.modes == r.n_modes == target.mode_centres.shape[0]
        assert sum(r.counts) == round(r.high_quality_pct * N_SAMPLES / 100)
        hq.append(r.high_quality_pct)
    expected = 100 * expected_high_quality_fraction()
    assert abs(expected - 100 * (1 - math.exp(-4.5))) < 1e-12 and abs(expected - 98.889) < 1e-3
    # 8 x 2,500 samples: the binomial standard error of the mean is 100 * sqrt(.989 * .011 / 20000) = 0.07 points
    assert abs(sum(hq) / len(hq) - expected) < 0.3


def test_a_single_mode_generator_captures_one_mode():
    ring = Ring()
    g = torch.Generator().manual_seed(0)
    collapsed = ring.mode_centres[3] + ring.std * torch.randn(N_SAMPLES, 2, generator=g)
    r = mode_report(collapsed, ring.mode_centres, ring.std)
    assert r.modes == 1 and r.counts[3] > 0 and sum(r.counts) == r.counts[3]
    assert r.high_quality_pct > 97


def test_hq_boundary_and_nonfinite_samples():
    ring = Ring()
    c = ring.mode_centres[0]
    inside = c + torch.tensor([[0.0299, 0.0]])
    outside = c + torch.tensor([[0.0301, 0.0]])
    bad = torch.tensor([[float("nan"), 0.0], [float("inf"), 1.0]])
    r = mode_report(torch.cat([inside, outside, bad]), ring.mode_centres, ring.std)
    assert r.modes == 1 and r.high_quality_pct == 25.0
    assert mode_report(outside, ring.mode_centres, ring.std).modes == 0
    with pytest.raises(ValueError):
        mode_report(inside, ring.mode_centres, 0.0)


def test_nearest_mode():
    idx, dist = nearest_mode(torch.tensor([[1.9, 2.1], [-4.0, -4.0]]), Grid().mode_centres)
    centres = Grid().mode_centres
    assert torch.allclose(centres[idx[0]], torch.tensor([2.0, 2.0])) and torch.allclose(centres[idx[1]], torch.tensor([-4.0, -4.0]))
    assert abs(float(dist[0]) - math.sqrt(0.02)) < 1e-6 and float(dist[1]) == 0.0


def test_histogram_divergences_on_known_answers():
    a = torch.tensor([[3.0, 1.0], [0.0, 0.0]])
    b = torch.tensor([[1.0, 3.0], [0.0, 0.0]])
    p, q = torch.tensor([0.75, 0.25], dtype=torch.float64), torch.tensor([0.25, 0.75], dtype=torch.float64)
    kl = float((p * (p / q).log()).sum())
    assert abs(kl_divergence(a, b, smoothing=0.0) - kl) < 1e-12
    m = 0.5 * (p + q)
    js = float(0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum())
    assert abs(js_divergence(a, b) - js) < 1e-12
    disjoint = js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert abs(disjoint - math.log(2)) < 1e-12           # JSD is at most log 2 (0.5 convention)
    assert kl_divergence(a, a) == 0.0 and js_divergence(a, a) == 0.0
    assert math.isfinite(kl_divergence(a, torch.tensor([[0.0, 4.0], [0.0, 0.0]])))  # smoothing keeps it finite


def test_histograms_of_real_vs_collapsed_samples():
    ring = Ring()
    g = torch.Generator().manual_seed(1)
    real = ring.sample(5000, g)
    h = histogram2d(real, ring.bounds, bins=40)
    assert h.shape == (40, 40) and h.sum() == 5000
    same = histogram_divergences(real, ring.sample(5000, g), ring.bounds)
    collapsed = histogram_divergences(real, ring.mode_centres[0] + 0.01 * torch.randn(5000, 2, generator=g), ring.bounds)
    assert same["js"] < 0.01 < 0.45 < collapsed["js"] <= math.log(2)
    assert collapsed["kl_real_fake"] > collapsed["kl_fake_real"]   # forward KL punishes the 7 missing modes hardest
