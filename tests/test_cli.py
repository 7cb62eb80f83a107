"""`python -m gen_core train|eval`: the way every pretrained folder is produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "gen_core", *args], env=env, capture_output=True, text=True,
                          timeout=300)


def test_train_resume_eval(tmp_path):
    out = tmp_path / "vae"
    common = ["train", "vae", "--out", str(out), "--latent-dim", "2", "--channels", "8", "--hidden", "32",
              "--batch-size", "32", "--log-every", "10", "--checkpoint-every", "10", "--iwae-k", "20",
              "--iwae-n", "50", "--threads", "1"]
    first = cli(*common, "--steps", "20", "--keep-state")
    assert first.returncode == 0, first.stderr[-2000:]
    assert (out / "training_state.json").is_file()
    second = cli(*common, "--steps", "30", "--resume")
    assert second.returncode == 0, second.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["latent_dim"] == 2
    assert not (out / "training_state.json").exists()  # optimizer state is dropped from the final folder
    card = (out / "README.md").read_text()
    assert "Steps: 30" in card and "python -m gen_core train vae" in card and "iwae_log_likelihood" in card
    metrics = json.loads(second.stdout[second.stdout.index("{"):])
    assert metrics["iwae_log_likelihood"] >= metrics["elbo"] - 5  # IWAE bound is no worse than the ELBO
    ev = cli("eval", str(out), "--n", "200", "--iwae-k", "10")
    assert ev.returncode == 0, ev.stderr[-2000:]
    got = json.loads(ev.stdout[ev.stdout.index("{"):])
    assert got["n_images"] == 200 and got["iwae_k"] == 10 and got["elbo"] < 0


def test_eval_bad_path_is_a_clear_error(tmp_path):
    res = cli("eval", str(tmp_path / "missing"))
    assert res.returncode != 0 and "neither a folder nor a Hub repo id" in res.stderr


def test_autoencoder_cli(tmp_path):
    res = cli("train", "autoencoder", "--out", str(tmp_path / "ae"), "--steps", "10", "--latent-dim", "4",
              "--channels", "8", "--hidden", "32", "--batch-size", "32", "--corruption", "gaussian", "--threads", "1")
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout[res.stdout.index("{"):])["recon_mse"] > 0


def test_init_from_continues_a_trained_vae_at_another_beta_and_refuses_another_shape(tmp_path):
    from safetensors.torch import load_file

    common = ["--latent-dim", "2", "--channels", "8", "--hidden", "32", "--batch-size", "32", "--iwae-k", "5",
              "--iwae-n", "20", "--eval-n", "50", "--threads", "1"]
    first = cli("train", "vae", "--out", str(tmp_path / "a"), "--steps", "20", *common)
    assert first.returncode == 0, first.stderr[-2000:]
    # lr 0: the continued run must end exactly at the weights it started from, so they were loaded, not re-drawn
    second = cli("train", "vae", "--out", str(tmp_path / "b"), "--steps", "10", "--lr", "0", "--beta", "2",
                 "--seed", "5", "--init-from", str(tmp_path / "a"), *common)
    assert second.returncode == 0, second.stderr[-2000:]
    a, b = load_file(str(tmp_path / "a" / "model.safetensors")), load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "b" / "config.json").read_text())["beta"] == 2
    card = (tmp_path / "b" / "README.md").read_text()
    assert "Initialised from the weights of" in card and "(20 steps, trained with beta = 1), then trained 10" in card
    assert "total_steps: 30" in card and "init_steps: 20" in card
    from gen_core.hub import read_card_metadata
    training = read_card_metadata(tmp_path / "b")["gen_core_training"]
    assert training["init_config"] == {"beta": 1.0}          # the beta the first part was trained with
    wider = cli("train", "vae", "--out", str(tmp_path / "c"), "--steps", "5", "--init-from", str(tmp_path / "a"),
                *common[:2], "--channels", "16", *common[4:])
    assert wider.returncode == 2 and "not a vae of this run's shape (differs in ['channels'])" in wider.stderr
    flow = cli("train", "flow", "--target", "ring", "--out", str(tmp_path / "f"), "--init-from", str(tmp_path / "a"))
    assert flow.returncode == 2 and "--init-from applies to vae, autoencoder and cyclegan only" in flow.stderr


def test_beta_start_decays_the_kl_weight_and_the_card_says_so(tmp_path):
    common = ["--latent-dim", "2", "--channels", "8", "--hidden", "32", "--batch-size", "32", "--iwae-k", "5",
              "--iwae-n", "20", "--eval-n", "50", "--threads", "1", "--beta", "4"]
    run = cli("train", "vae", "--out", str(tmp_path / "a"), "--steps", "12", "--beta-start", "16", "--beta-hold", "4",
              "--beta-decay", "6", *common)
    assert run.returncode == 0, run.stderr[-2000:]
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert (config["kl_schedule"], config["beta_start"], config["beta_hold_steps"], config["beta_decay_steps"],
            config["beta"]) == ("decay", 16.0, 4, 6, 4.0)
    too_long = cli("train", "vae", "--out", str(tmp_path / "b"), "--steps", "5", "--beta-start", "16",
                   "--beta-hold", "4", "--beta-decay", "6", *common)
    assert too_long.returncode == 2 and "exceeds --steps" in too_long.stderr
    both = cli("train", "vae", "--out", str(tmp_path / "c"), "--steps", "5", "--beta-start", "16", "--kl-warmup", "2",
               *common)
    assert both.returncode == 2 and "use one of them" in both.stderr
    orphan = cli("train", "vae", "--out", str(tmp_path / "d"), "--steps", "5", "--beta-hold", "2", *common)
    assert orphan.returncode == 2 and "give --beta-start too" in orphan.stderr


def test_edge_threshold_is_checked_before_any_training(tmp_path):
    shoes = cli("train", "cyclegan", "--pair", "shoes", "--edge-threshold", "0.3", "--steps", "1",
                "--out", str(tmp_path / "s"))
    assert shoes.returncode == 2 and "--edge-threshold applies to the sketch pair only" in shoes.stderr
    bad = cli("train", "cyclegan", "--edge-threshold", "0", "--steps", "1", "--out", str(tmp_path / "z"))
    assert bad.returncode == 2 and "--edge-threshold must be positive" in bad.stderr
    assert not (tmp_path / "s").exists() and not (tmp_path / "z").exists()
