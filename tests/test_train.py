"""The shared training loop: events, cancel, divergence handling, exact resume, and 2-process DDP."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from gen_core.models import VAE, VAEConfig
from gen_core.train import Event, TrainConfig, train
from gen_core.train.loop import autocast_dtype
from gen_core.train.progress import follow_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def images(fmnist_test):
    return fmnist_test.images[:512]


def tiny_vae(seed: int = 0) -> VAE:
    torch.manual_seed(seed)
    return VAE(VAEConfig(latent_dim=2, channels=8, hidden=32))


def run(model, data, **kw) -> list[Event]:
    cfg = TrainConfig(**{"steps": 20, "batch_size": 32, "log_every": 5, **kw.pop("config", {})})
    return list(train(model, data, cfg, **kw))


def test_events_and_learning(images):
    model = tiny_vae()
    events = run(model, images, config={"steps": 60, "lr": 3e-3},
                 eval_fn=lambda m: {"twice": 2.0}, sample_fn=lambda m: m.sample(4))
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    steps = [e for e in events if e.kind == "step"]
    assert [e.step for e in steps] == list(range(5, 61, 5))
    assert {"loss", "kl", "recon", "elbo", "grad_norm", "steps_per_s"} <= set(steps[0].metrics)
    assert steps[-1].metrics["loss"] < steps[0].metrics["loss"]
    assert [e.metrics for e in events if e.kind == "eval"] == [{"twice": 2.0}]
    samples = [e for e in events if e.kind == "samples"]
    assert len(samples) == 1 and samples[0].images.shape == (4, 1, 28, 28)
    assert not model.training  # the loop leaves the model in eval mode


def test_same_seed_same_result(images):
    a, b = tiny_vae(), tiny_vae()
    run(a, images)
    run(b, images)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def _train_with_interference(images, private: bool) -> VAE:
    """Train a tiny VAE while "another visitor" reseeds and draws from torch's global RNG between its steps (as
    concurrent sessions of the app do), and return it."""
    model = tiny_vae()
    cfg = TrainConfig(steps=20, batch_size=32, log_every=1, private_noise=private)
    for i, ev in enumerate(train(model, images, cfg)):
        torch.manual_seed(1000 + i)
        torch.randn(17)
    return model


def test_private_noise_keeps_a_run_reproducible_when_other_threads_use_the_global_rng(images):
    def same(a: VAE, b: VAE) -> bool:
        return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))

    undisturbed = tiny_vae()
    list(train(undisturbed, images, TrainConfig(steps=20, batch_size=32, log_every=1, private_noise=True)))
    assert same(_train_with_interference(images, private=True), undisturbed)
    # without it, the reparameterisation noise is the global RNG's, and the interference changes the run
    plain = tiny_vae()
    list(train(plain, images, TrainConfig(steps=20, batch_size=32, log_every=1)))
    assert not same(_train_with_interference(images, private=False), plain)
    assert undisturbed.step_noise is None           # only set during a step: evals and frames draw their own


def test_private_noise_cannot_resume(images, tmp_path):
    with pytest.raises(ValueError, match="cannot resume"):
        list(train(tiny_vae(), images, TrainConfig(steps=5, private_noise=True), resume_from=tmp_path))


def test_seeded_blocks_give_the_same_draws_and_restore_on_request():
    from gen_core.threads import seeded

    with seeded(7):
        a = torch.randn(5)
    with seeded(7):
        b = torch.randn(5)
    assert torch.equal(a, b)
    torch.manual_seed(3)
    expected = torch.randn(4)
    torch.manual_seed(3)
    with seeded(7, restore=True):
        torch.randn(100)
    assert torch.equal(torch.randn(4), expected)      # the caller's stream goes on as if nothing had drawn


def test_cancel_between_steps(images):
    stop = threading.Event()
    events = []
    for ev in train(tiny_vae(), images, TrainConfig(steps=1000, batch_size=32, log_every=5), cancel=stop):
        events.append(ev)
        if ev.kind == "step" and ev.step == 10:
            stop.set()
    assert events[-1].kind == "cancelled" and events[-1].step == 10


def test_closing_the_generator_stops_training(images):
    model = tiny_vae()
    gen = train(model, images, TrainConfig(steps=1000, batch_size=32, log_every=5))
    for ev in gen:
        if ev.kind == "step":
            break
    gen.close()
    assert not model.training


def test_divergence_keeps_last_good_weights(images):
    model = tiny_vae()
    good = {}
    original_forward = model.forward

    def forward(x, step=0):
        out = original_forward(x, step)
        if step == 7:
            good.update({k: v.clone() for k, v in model.state_dict().items()})
            out["loss"] = out["loss"] * float("nan")
        return out

    model.forward = forward
    events = run(model, images)
    assert events[-1].kind == "diverged" and events[-1].step == 6
    assert "last good weights" in events[-1].message
    for k, v in model.state_dict().items():
        assert torch.equal(v, good[k]) and torch.isfinite(v).all(), k


def test_infinite_gradient_is_caught(images):
    model = tiny_vae()
    original_forward = model.forward

    def forward(x, step=0):
        out = original_forward(x, step)
        if step == 3:  # finite loss, infinite gradient
            out["loss"] = out["loss"] + (model.decoder_logvar * 0 + 1e30 * model.encoder.net[0].weight.sum()) * 1e30
        return out

    model.forward = forward
    assert run(model, images)[-1].kind == "diverged"


def test_checkpoint_resume_is_exact(images, tmp_path):
    straight = tiny_vae()
    run(straight, images, config={"steps": 30})
    first = tiny_vae()
    events = run(first, images, config={"steps": 15, "out_dir": str(tmp_path)})
    assert [e.kind for e in events].count("checkpoint") == 1
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "model.safetensors", "README.md",
                                                    "training_state.json", "training_state.safetensors"}
    resumed = tiny_vae(seed=99)  # different init: everything must come from the checkpoint
    events = run(resumed, images, config={"steps": 30}, resume_from=tmp_path)
    assert events[0].kind == "start" and events[0].step == 15
    for k, v in straight.state_dict().items():
        assert torch.allclose(v, resumed.state_dict()[k], atol=1e-6), k


def test_bad_settings(images):
    with pytest.raises(ValueError, match="CUDA is not available"):
        run(tiny_vae(), images, config={"device": "cuda"}) if not torch.cuda.is_available() else pytest.skip()
    with pytest.raises(ValueError, match="too few"):
        run(tiny_vae(), images[:10])


def test_bf16_autocast_on_cpu_keeps_loss_and_weights_float32(images):
    """precision="bf16" on CPU: autocast on, the loss terms float32 and near the float32 values, the weights float32
    and learning; fp16 on CPU is refused with the settings that work."""
    assert autocast_dtype("bf16", torch.device("cpu")) is torch.bfloat16
    assert autocast_dtype("auto", torch.device("cpu")) is None
    with pytest.raises(ValueError, match="'fp32', 'bf16' or 'auto'"):
        autocast_dtype("fp16", torch.device("cpu"))
    model = tiny_vae()
    x = (images[:64].float() / 255 > 0.5).float()  # binary images, the Bernoulli decoder's support
    mu, logvar = model.encode(x)
    z = mu  # a fixed code, so that both precisions decode the same point
    exact = model.recon_nll(x, z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mu16, _ = model.encode(x)
        recon16 = model.recon_nll(x, z)
    assert mu16.dtype == torch.float32 and recon16.dtype == torch.float32
    assert torch.allclose(mu16, mu, atol=0.05)
    assert torch.allclose(recon16, exact, rtol=0.02)
    events = run(model, images, config={"steps": 60, "lr": 3e-3, "precision": "bf16"})
    steps = [e for e in events if e.kind == "step"]
    assert steps[-1].metrics["loss"] < steps[0].metrics["loss"]
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_ddp_two_processes_keep_parameters_identical(tmp_path):
    """torchrun with 2 CPU processes (gloo): every rank ends with the same parameters, different from the start."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(ROOT / "tests" / "ddp_worker.py"), str(tmp_path)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    from safetensors.torch import load_file
    r0, r1 = load_file(str(tmp_path / "rank0.safetensors")), load_file(str(tmp_path / "rank1.safetensors"))
    init = load_file(str(tmp_path / "init.safetensors"))
    assert r0.keys() == r1.keys()
    for k in r0:
        assert torch.equal(r0[k], r1[k]), k
    assert any(not torch.equal(r0[k], init[k]) for k in r0)
    assert (tmp_path / "world_size.txt").read_text() == "2"


def test_warm_up_optimizer_does_torch_one_time_imports():
    import sys

    from gen_core.train.loop import warm_up_optimizer

    warm_up_optimizer()
    assert "torch._dynamo" in sys.modules  # the ~3 s import now happened here, not in a user's first step


def test_quick_thread_switches_sets_the_interval_and_refuses_nonsense():
    from gen_core.threads import SWITCH_INTERVAL_S, one_thread, quick_thread_switches

    before = sys.getswitchinterval()
    try:
        quick_thread_switches()
        assert abs(sys.getswitchinterval() - SWITCH_INTERVAL_S) < 1e-9
        for bad in (0, -1.0):
            with pytest.raises(ValueError, match="positive"):
                quick_thread_switches(bad)
    finally:
        sys.setswitchinterval(before)
    threads = torch.get_num_threads()
    with one_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == threads


def test_follow_run_reports_the_finished_run_and_every_event(images, capsys):
    seen: list[str] = []
    ran = follow_run(train(tiny_vae(), images, TrainConfig(steps=20, batch_size=32, log_every=5)), 20, "train vae",
                     ("loss", "kl"), on_event=lambda ev: seen.append(ev.kind))
    assert ran is not None and ran[0] == 20 and ran[1] > 0            # (steps, wall seconds)
    assert seen[0] == "start" and seen.count("step") == 4 and seen[-1] == "done"
    bar = capsys.readouterr().err
    assert "20/20" in bar and "loss=" in bar and "kl=" in bar and "recon=" not in bar   # only the keys asked for


def test_follow_run_stops_on_divergence_with_the_loops_message(images, capsys):
    model = tiny_vae()
    original_forward = model.forward

    def forward(x, step=0):
        out = original_forward(x, step)
        if step == 7:
            out["loss"] = out["loss"] * float("nan")
        return out

    model.forward = forward
    assert follow_run(train(model, images, TrainConfig(steps=20, batch_size=32, log_every=5)), 20, "t", ()) is None
    assert "Training diverged at step 7" in capsys.readouterr().err
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())


def test_follow_run_refuses_a_run_that_ends_without_its_last_event():
    with pytest.raises(RuntimeError, match="without a 'done' or 'diverged' event"):
        follow_run(iter([Event("start", 0), Event("step", 5, {"loss": 1.0})]), 10, "t", ("loss",))
