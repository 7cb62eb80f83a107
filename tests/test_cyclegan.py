"""CycleGAN (issue 6): domains never leak a training pair, loss formulas, the image pool, SSIM, save/load, resume."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
import torch

from gen_core.data import domains
from gen_core.data.domains import (ANKLE_BOOT, SNEAKER, UnpairedBatches, load_domain_pair, sobel_edges,
                                   sobel_magnitude, split_halves)
from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.metrics.translation import (TranslationConfusion, confusion_counts, cycle_error_map, gaussian_window,
                                          l1_per_image, nearest_neighbour_indices, scoreboard, ssim, ssim_map,
                                          worst_by_cycle_error)
from gen_core.models import MODEL_CLASSES, load_pretrained
from gen_core.models.cyclegan import (CycleGAN, CycleGANConfig, CycleGANOptim, ImagePool, cycle_consistency_loss,
                                      cyclegan_generator_objective, cyclegan_task, identity_loss, linear_decay_factor,
                                      lsgan_d_loss, lsgan_g_loss)
from gen_core.train.loop import TrainConfig, train


def tiny(**kw) -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(CycleGANConfig(channels=4, n_res_blocks=1, d_channels=4, **kw))


# ---------------------------------------------------------------------------------------------------- domains

def test_sobel_on_a_vertical_step_matches_hand_computation():
    x = torch.zeros(1, 1, 28, 28)
    x[..., 14:] = 1.0
    mag = sobel_magnitude(x)[0, 0]
    # Interior rows: Gx = -(1 + 2 + 1) at columns 13 and 14 (the step is between them), 0 elsewhere except the
    # right border, where the zero padding makes a 1 -> 0 step: Gx = +4 there. Gy = 0 on interior rows.
    row = mag[10]
    expected = torch.zeros(28)
    expected[[13, 14, 27]] = 4.0
    assert torch.allclose(row, expected)
    edges = sobel_edges(x)[0, 0]
    assert edges[10].nonzero().flatten().tolist() == [13, 14, 27]
    assert sobel_edges(torch.zeros(2, 1, 28, 28)).sum() == 0
    assert set(sobel_edges(torch.rand(3, 1, 28, 28)).unique().tolist()) <= {0.0, 1.0}


def test_sobel_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        sobel_magnitude(torch.zeros(28, 28))
    for bad in (0.0, -0.5, float("nan")):
        with pytest.raises(ValueError, match="threshold must be positive"):
            sobel_edges(torch.zeros(1, 1, 28, 28), threshold=bad)


def test_split_halves_disjoint_cover_deterministic():
    a, b = split_halves(1000, seed=3)
    a2, b2 = split_halves(1000, seed=3)
    assert torch.equal(a, a2) and torch.equal(b, b2)
    assert len(set(a.tolist()) & set(b.tolist())) == 0
    assert sorted(a.tolist() + b.tolist()) == list(range(1000))
    assert not torch.equal(split_halves(1000, seed=4)[0], a)


def test_sketch_domain_never_shows_a_training_pair():
    pair = load_domain_pair("sketch")
    train = load_fashion_mnist("train")
    ia, ib = pair.train_a_index, pair.train_b_index
    assert len(ia) == len(ib) == 30_000
    assert len(set(ia.tolist()) & set(ib.tolist())) == 0          # no garment is on both sides
    # A is exactly the edge maps of its own half; B exactly the garments of the other half.
    assert torch.equal(pair.train_a[:50], (sobel_edges(train.images[ia[:50]]) * 255).to(torch.uint8))
    assert torch.equal(pair.train_b, train.images[ib])
    # The test set keeps true pairs: test_a[i] is the edge map of test_b[i].
    assert pair.test_paired
    assert torch.equal(pair.test_a[:50], (sobel_edges(pair.test_b[:50]) * 255).to(torch.uint8))
    # Deterministic: a fresh build (cache cleared) gives the same split.
    domains._PAIR_CACHE.clear()
    again = load_domain_pair("sketch")
    assert torch.equal(again.train_a_index, ia) and torch.equal(again.train_a, pair.train_a)


def test_shoes_domain_from_labels():
    pair = load_domain_pair("shoes")
    assert (pair.train_a_labels == SNEAKER).all() and (pair.train_b_labels == ANKLE_BOOT).all()
    assert (pair.test_a_labels == SNEAKER).all() and (pair.test_b_labels == ANKLE_BOOT).all()
    assert len(pair.train_a) == len(pair.train_b) == 6000 and len(pair.test_a) == 1000
    assert not pair.test_paired
    with pytest.raises(ValueError, match="choose one of"):
        load_domain_pair("horses")


def test_unpaired_batches_deterministic_and_resumable():
    a = torch.arange(40, dtype=torch.float32).view(40, 1, 1, 1).expand(40, 1, 28, 28).contiguous()
    b = -a
    s1 = UnpairedBatches(a, b, 8, seed=0, device=torch.device("cpu"))
    s2 = UnpairedBatches(a, b, 8, seed=0, device=torch.device("cpu"))
    for _ in range(3):
        x1, y1 = s1.next_batch()
        x2, y2 = s2.next_batch()
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    state = s1.get_state()
    nxt = s1.next_batch()
    s3 = UnpairedBatches(a, b, 8, seed=99, device=torch.device("cpu"))
    s3.set_state(state)
    assert torch.equal(s3.next_batch()[0], nxt[0])
    # A and B are drawn by independent permutations: B's order is not A's.
    xa, xb = UnpairedBatches(a, b, 40, seed=0, device=torch.device("cpu")).next_batch()
    assert not torch.equal(xa[:, 0, 0, 0], -xb[:, 0, 0, 0])


# ---------------------------------------------------------------------------------------------------- losses

def test_cycle_and_identity_losses_match_their_formulas():
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x_rec = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    manual = np.abs(x_rec.numpy() - x.numpy()).sum() / x.numel()        # E ||F(G(x)) - x||_1 per pixel
    assert cycle_consistency_loss(x, x_rec).item() == pytest.approx(manual, rel=1e-6)
    assert identity_loss(x, x_rec).item() == pytest.approx(manual, rel=1e-6)
    assert cycle_consistency_loss(x, x).item() == 0.0
    assert cycle_consistency_loss(torch.zeros(2, 1, 28, 28), torch.full((2, 1, 28, 28), 0.5)).item() == 0.5


def test_lsgan_losses_closed_forms():
    ones, zeros = torch.ones(3, 1, 5, 5), torch.zeros(3, 1, 5, 5)
    assert lsgan_d_loss(ones, zeros).item() == 0.0                      # perfect discriminator
    assert lsgan_d_loss(0.5 * ones, 0.5 * ones).item() == pytest.approx(0.25)   # 0.5 (0.25 + 0.25)
    assert lsgan_g_loss(ones).item() == 0.0
    assert lsgan_g_loss(zeros).item() == 1.0


def test_generator_objective_combines_terms_with_lambda_and_identity_weight():
    d_b, d_a = torch.zeros(2, 1, 5, 5), torch.full((2, 1, 5, 5), 0.5)
    c_a, c_b, i_a, i_b = (torch.tensor(v) for v in (0.1, 0.2, 0.3, 0.4))
    got = cyclegan_generator_objective(d_b, d_a, c_a, c_b, i_a, i_b, lambda_cycle=10.0, lambda_identity=0.5)
    expected = 1.0 + 0.25 + 10 * (0.1 + 0.2) + 0.5 * 10 * (0.3 + 0.4)
    assert got.item() == pytest.approx(expected)


def test_linear_decay_factor():
    assert linear_decay_factor(1, 100) == 1.0
    assert linear_decay_factor(50, 100) == 1.0
    assert linear_decay_factor(51, 100) == pytest.approx(50 / 51)
    assert linear_decay_factor(100, 100) == pytest.approx(1 / 51)
    vals = [linear_decay_factor(t, 100) for t in range(51, 101)]
    assert all(a > b for a, b in zip(vals, vals[1:]))                  # strictly decreasing after decay_start
    assert np.allclose(np.diff(vals), -1 / 51)                          # by equal amounts
    with pytest.raises(ValueError):
        linear_decay_factor(1, 100, decay_start=1.5)


# ---------------------------------------------------------------------------------------------------- image pool

def _ids(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t[:, 0, 0, 0].tolist()]


def test_image_pool_returns_new_images_until_full_then_swaps_half():
    pool = ImagePool(size=50, seed=0)
    first = torch.arange(50, dtype=torch.float32).view(50, 1, 1, 1).expand(50, 1, 2, 2)
    assert torch.equal(pool.query(first), first)                       # filling: every image comes back as is
    assert pool.count == 50
    seen = set(range(50))
    stored = list(range(50))
    swaps, n = 0, 2000
    for k in range(n):
        img = torch.full((1, 1, 2, 2), float(50 + k))
        got = _ids(pool.query(img))[0]
        if got != 50 + k:
            swaps += 1
            assert got in seen and got in stored                       # an image from the history, not a new one
            stored[stored.index(got)] = 50 + k                         # the new image took its slot
        seen.add(50 + k)
        assert sorted(_ids(pool.images)) == sorted(stored)
    assert abs(swaps / n - 0.5) < 0.05                                 # p = 1/2: 4.5 binomial std devs


def test_image_pool_size_zero_and_determinism():
    x = torch.rand(5, 1, 4, 4)
    assert torch.equal(ImagePool(0).query(x), x)
    p1, p2 = ImagePool(3, seed=1), ImagePool(3, seed=1)
    for i in range(10):
        y = torch.full((2, 1, 4, 4), float(i))
        assert torch.equal(p1.query(y), p2.query(y))
    p3 = ImagePool(3, seed=5)
    p3.set_state(p1.get_state())
    y = torch.rand(4, 1, 4, 4)
    assert torch.equal(p3.query(y), p1.query(y))


# ---------------------------------------------------------------------------------------------------- model

def test_shapes_range_and_round_trip():
    m = tiny()
    x = torch.rand(3, 1, 28, 28)
    y, back = m.round_trip(x, "a2b")
    assert y.shape == back.shape == (3, 1, 28, 28)
    assert y.min() >= 0 and y.max() <= 1
    assert m.d_a(x).shape == (3, 1, 5, 5)
    with pytest.raises(ValueError, match="direction"):
        m.translate(x, "sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shape"):
        m.translate(torch.rand(3, 28, 28))


def test_save_load_round_trip_is_exact(tmp_path):
    assert MODEL_CLASSES["cyclegan"] is CycleGAN
    m = tiny(pair="shoes", domain_a="sneaker", domain_b="ankle boot")
    m.save_pretrained(tmp_path / "cg")
    loaded = load_pretrained(tmp_path / "cg")
    assert isinstance(loaded, CycleGAN) and loaded.config == m.config
    for (k, v), (k2, v2) in zip(m.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    x = torch.rand(2, 1, 28, 28)
    assert torch.equal(m.translate(x, "b2a"), loaded.translate(x, "b2a"))


def _source(seed: int = 0) -> UnpairedBatches:
    g = torch.Generator().manual_seed(123)
    a = (torch.rand(64, 1, 28, 28, generator=g) > 0.7).to(torch.uint8) * 255
    b = (torch.rand(64, 1, 28, 28, generator=g) * 255).to(torch.uint8)
    return UnpairedBatches(a, b, 4, seed, torch.device("cpu"))


def test_training_step_updates_every_parameter_and_lowers_cycle_loss():
    m = tiny()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    events = list(train(m, _source(), TrainConfig(steps=30, log_every=10, device="cpu"),
                        task_factory=cyclegan_task(CycleGANOptim(lr=2e-3))))
    steps = [e for e in events if e.kind == "step"]
    assert events[-1].kind == "done"
    assert {"cycle_a", "cycle_b", "identity_a", "d_loss_a", "d_loss_b", "g_loss"} <= set(steps[0].metrics)
    assert steps[-1].metrics["cycle_a"] < steps[0].metrics["cycle_a"]
    changed = [k for k, v in m.state_dict().items() if v.dtype.is_floating_point and not torch.equal(v, before[k])]
    params = [k for k, _ in m.named_parameters()]
    assert set(params) <= set(changed)                                 # G, F, D_X and D_Y all trained


def test_checkpoint_resume_is_exact(tmp_path):
    cfg = dict(steps=6, log_every=2, device="cpu", checkpoint_every=3)
    full = tiny()
    list(train(full, _source(), TrainConfig(**cfg), task_factory=cyclegan_task(CycleGANOptim())))
    part = tiny()
    cancel = threading.Event()
    for ev in train(part, _source(), TrainConfig(**cfg, out_dir=str(tmp_path / "ck")), cancel=cancel,
                    task_factory=cyclegan_task(CycleGANOptim())):
        if ev.kind == "checkpoint" and ev.step == 3:
            cancel.set()
    resumed = tiny()
    list(train(resumed, _source(), TrainConfig(**cfg), resume_from=tmp_path / "ck",
               task_factory=cyclegan_task(CycleGANOptim())))
    for (k, v), v2 in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(v, v2, atol=1e-6), k


# ---------------------------------------------------------------------------------------------------- metrics

def test_gaussian_window():
    w = gaussian_window(11, 1.5)
    assert w.shape == (11, 11) and w.sum().item() == pytest.approx(1.0)
    assert w[5, 5] == w.max() and torch.allclose(w, w.T)
    assert (w[5, 6] / w[5, 5]).item() == pytest.approx(math.exp(-1 / (2 * 1.5 ** 2)))


def test_ssim_identity_constant_closed_form_and_reference_loop():
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(ssim(x, x), torch.ones(3))
    # Constant images a and b: sigma = 0, so SSIM = (2ab + C1) / (a^2 + b^2 + C1) exactly.
    a, b, c1 = 0.2, 0.7, 0.01 ** 2
    got = ssim(torch.full((1, 1, 28, 28), a), torch.full((1, 1, 28, 28), b)).item()
    assert got == pytest.approx((2 * a * b + c1) / (a * a + b * b + c1), rel=1e-5)
    # A direct loop over every 11x11 window with the weighted statistics of Wang et al. 2004.
    y = torch.rand(1, 1, 14, 14, generator=torch.Generator().manual_seed(1))
    z = (y + 0.3 * torch.rand(1, 1, 14, 14, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    w = gaussian_window().numpy()
    yy, zz = y[0, 0].double().numpy(), z[0, 0].double().numpy()
    c2 = 0.03 ** 2
    vals = []
    for i in range(4):
        for j in range(4):
            p, q = yy[i:i + 11, j:j + 11], zz[i:i + 11, j:j + 11]
            mp, mq = (w * p).sum(), (w * q).sum()
            vp, vq = (w * (p - mp) ** 2).sum(), (w * (q - mq) ** 2).sum()
            cov = (w * (p - mp) * (q - mq)).sum()
            vals.append((2 * mp * mq + c1) * (2 * cov + c2) / ((mp ** 2 + mq ** 2 + c1) * (vp + vq + c2)))
    assert ssim_map(y, z).shape == (1, 1, 4, 4)
    assert ssim(y, z).item() == pytest.approx(float(np.mean(vals)), rel=1e-5)
    assert ssim(y, z).item() == pytest.approx(ssim(z, y).item(), rel=1e-6)   # symmetric
    with pytest.raises(ValueError, match="smaller"):
        ssim(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 8, 8))


def test_l1_cycle_map_and_nearest_neighbour():
    x = torch.zeros(2, 1, 28, 28)
    y = torch.full((2, 1, 28, 28), 0.25)
    assert torch.allclose(l1_per_image(x, y), torch.full((2,), 0.25))
    assert torch.equal(cycle_error_map(x, y), y)
    pool = torch.rand(50, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    q = pool[[7, 3, 41]] + 0.01
    brute = torch.cdist(q.flatten(1), pool.flatten(1)).argmin(1)
    assert nearest_neighbour_indices(q, pool, batch_size=2).tolist() == brute.tolist() == [7, 3, 41]


def test_worst_by_cycle_error_sorted():
    m = tiny()
    x = torch.rand(6, 1, 28, 28)
    idx, err = worst_by_cycle_error(m, x, "a2b", 3)
    assert len(idx) == 3 and err[idx[0]] == err.max()
    assert err[idx].tolist() == sorted(err[idx].tolist(), reverse=True)


def test_toy_cyclegan_2d_trains_in_the_same_task():
    from gen_core.data.domains import UnpairedSamplers, toy_domains
    from gen_core.models.cyclegan import CycleGAN2D, CycleGAN2DConfig

    a, b = toy_domains()
    torch.manual_seed(0)
    m = CycleGAN2D(CycleGAN2DConfig(hidden=16, lambda_cycle=10.0))
    src = UnpairedSamplers(a, b, 64, 0, torch.device("cpu"))
    x1, y1 = src.next_batch()
    assert x1.shape == y1.shape == (64, 2)
    events = list(train(m, src, TrainConfig(steps=40, log_every=20, device="cpu"),
                        task_factory=cyclegan_task(CycleGANOptim(lr=2e-3))))
    assert events[-1].kind == "done"
    assert m.translate(x1, "a2b").shape == (64, 2)


@pytest.mark.parametrize("name", ["sketch", "shoes"])
@pytest.mark.parametrize("direction", ["a2b", "b2a"])
def test_test_sources_equal_the_full_pairs_test_images(name, direction):
    from gen_core.data.domains import load_domain_pair, test_source_labels, test_sources

    pair = load_domain_pair(name)
    full = pair.test_a if direction == "a2b" else pair.test_b
    labels = pair.test_a_labels if direction == "a2b" else pair.test_b_labels
    assert torch.equal(test_sources(name, direction, 12), full[:12])
    assert torch.equal(test_source_labels(name, direction, 12), labels[:12])
    if name == "shoes":
        assert set(test_source_labels(name, direction, 12).tolist()) == {7 if direction == "a2b" else 9}
    for fn in (test_sources, test_source_labels):
        with pytest.raises(ValueError, match="direction"):
            fn(name, "up", 3)


def test_init_from_loads_a_trained_cyclegan_and_refuses_another_shape(tmp_path):
    from gen_core.cli_cyclegan import init_from

    trained = tiny()
    trained.save_pretrained(tmp_path / "cg", card="# test", card_data={"gen_core_training": {"steps": 1234}})
    fresh = tiny()
    with torch.no_grad():
        for p in fresh.parameters():
            p.add_(1.0)                      # different weights until init_from loads the trained ones
    assert not torch.equal(next(fresh.parameters()), next(trained.parameters()))
    assert init_from(fresh, tmp_path / "cg") == 1234
    for (name, a), b in zip(trained.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(ValueError, match="not a CycleGAN of this run's shape.*channels"):
        init_from(CycleGAN(CycleGANConfig(channels=8, n_res_blocks=1, d_channels=4)), tmp_path / "cg")


def test_the_sketch_domain_follows_the_edge_threshold_a_model_records(tmp_path):
    """``--edge-threshold`` (recorded in the config) decides the sketch domain for training, the metrics and the app."""
    from gen_core.data.domains import EDGE_THRESHOLD, _PAIR_CACHE, load_domain_pair, test_sources
    from gen_core.metrics.translation import evaluate_cyclegan
    from gen_core.ui.cyclegan import SCALE, CycleGANModels, CycleGANTab
    from gen_core.viz.cyclegan import big_image

    assert CycleGANConfig().edge_threshold == EDGE_THRESHOLD == load_domain_pair("sketch").threshold
    thin = load_domain_pair("sketch", threshold=0.3)
    assert thin.threshold == 0.3 and torch.equal(thin.test_b, load_domain_pair("sketch").test_b)
    assert thin.test_a.float().mean() > load_domain_pair("sketch").test_a.float().mean()   # a lower bar: more edge
    assert torch.equal(test_sources("sketch", "a2b", 12, 0.3), thin.test_a[:12])
    # a model trained on thinner edges is evaluated, and shown in the app, on its own domain
    torch.manual_seed(0)
    model = CycleGAN(CycleGANConfig(channels=8, n_res_blocks=1, d_channels=8, edge_threshold=0.3))
    model.save_pretrained(tmp_path / "cg")
    model = load_pretrained(tmp_path / "cg")
    assert model.config.edge_threshold == 0.3
    _PAIR_CACHE.pop(("sketch", 0.3, 0), None)
    m = evaluate_cyclegan(model, load_pretrained("pretrained/fmnist-classifier"), n_pairs=40, n_eval=40)
    assert any(key[:2] == ("sketch", 0.3) for key in _PAIR_CACHE) and 0 <= m["label_preservation"] <= 1
    tab = CycleGANTab(CycleGANModels({"sketch": model}, None))
    shown = tab.pick_example("sketch", "a2b", 3)
    assert np.array_equal(shown, big_image(thin.test_a[3].float() / 255.0, SCALE))


def test_toy_metrics_of_the_identity_map_are_known():
    """G = F = identity (each residual MLP's last layer zeroed): every round trip is exact, and the ring's four
    axis modes sit exactly on four of the grid's nine centres (and vice versa), while the diagonal ring modes are
    0.62 from the nearest grid corner, far beyond 3 std = 0.3. So 4 / 9 grid modes and 4 / 8 ring modes are
    captured, and the share of high-quality points is the share drawn from those four modes (1/2 of the ring's,
    4/9 of the grid's) times P(|N(0, 0.1^2 I)| < 0.3) = 1 - exp(-4.5)."""
    from gen_core.metrics.translation import evaluate_toy_cyclegan, toy_held_out
    from gen_core.models.cyclegan import CycleGAN2D, CycleGAN2DConfig

    m = CycleGAN2D(CycleGAN2DConfig())
    with torch.no_grad():
        for g in (m.g_ab, m.g_ba):
            last = [layer for layer in g.net if isinstance(layer, torch.nn.Linear)][-1]
            last.weight.zero_()
            last.bias.zero_()
    a, b = toy_held_out(50)
    assert torch.equal(m.translate(a, "a2b"), a)
    r = evaluate_toy_cyclegan(m, n=4000)
    assert r["cycle_l1_a"] == 0.0 and r["cycle_l1_b"] == 0.0
    assert (r["modes_b"], r["n_modes_b"], r["modes_a"], r["n_modes_a"]) == (4, 9, 4, 8)
    inside = 1 - math.exp(-4.5)
    assert abs(r["hq_b_pct"] - 100 * inside / 2) < 2.5          # binomial: 1 std ~0.8 points at n = 4000
    assert abs(r["hq_a_pct"] - 100 * inside * 4 / 9) < 2.5
    assert evaluate_toy_cyclegan(m, n=4000) == r                 # fixed points: the same numbers every call


def test_confusion_counts_known_answer_and_errors():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    called = torch.tensor([0, 1, 1, 2, 0, 2])
    assert confusion_counts(labels, called, 3).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert confusion_counts(labels, called, 3).sum() == 6
    with pytest.raises(ValueError, match="differ in length"):
        confusion_counts(labels, called[:3], 3)
    with pytest.raises(ValueError, match="must lie in 0..2"):
        confusion_counts(labels, torch.tensor([0, 1, 1, 2, 0, 3]), 3)


def test_translation_confusion_shares_and_rates():
    counts = torch.tensor([[8, 2, 0], [1, 0, 3]])           # row 0 expects class 0, row 1 expects class 2
    conf = TranslationConfusion("t", ("a", "b"), (0, 1), (0, 2), counts, torch.tensor([0.9, 0.8]), None)
    assert conf.shares.sum(1).tolist() == [1.0, 1.0]
    assert conf.expected_rate.tolist() == [0.8, 0.75]
    assert conf.overall == pytest.approx(11 / 14)


def test_scoreboard_against_the_issue_targets():
    sketch = scoreboard("sketch", {"label_preservation": 0.86, "label_preservation_nn": 0.8, "l1_to_partner": 0.1,
                                   "l1_to_partner_nn": 0.09, "translate_ms": 120.0, "cycle_l1_a": 0.2})
    met = {r.label.split(":")[0].split(",")[0]: r.met for r in sketch}
    assert met == {"label preservation": True, "L1 to the true garment": False, "cycle L1 sketch → garment → sketch": None,
                   "time to translate one image (one thread": False}
    assert scoreboard("sketch", {"label_preservation": 0.849})[0].met is False
    shoes = scoreboard("shoes", {"target_rate_a2b": 0.9, "target_rate_b2a": 0.89, "cycle_l1_a": 0.05,
                                 "cycle_l1_b": 0.0501})
    assert [r.met for r in shoes] == [True, False, True, False]
    assert scoreboard("shoes", {}) == []
    assert scoreboard("sketch", {"label_preservation": "0.841"}) == []       # a table value (old card): left out


def test_scoreboard_judges_the_whole_test_set_when_the_card_has_it():
    """EVALUATION.md's label preservation is over every test sketch: with it in the card, that row is judged and the
    first-2,000 figure (the per-class panel's) is shown without a verdict, so a lucky subset cannot pass."""
    rows = scoreboard("sketch", {"label_preservation_all": 0.842, "n_test_all": 10000.0, "label_preservation": 0.857,
                                 "label_preservation_nn": 0.8285, "n_pairs": 2000.0})
    assert [(r.label, r.value, r.target, r.met) for r in rows] == [
        ("label preservation, all 10,000 test sketches", 0.842, "≥ 85%", False),
        ("label preservation, the first 2,000 (the per-class panel's)", 0.857, "", None)]
    assert rows[1].baseline == 0.8285
    assert scoreboard("sketch", {"label_preservation_all": 0.85, "n_test_all": 10000.0})[0].met is True
