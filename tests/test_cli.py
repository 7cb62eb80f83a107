"""`python -m gen_core train|eval`: the way every pretrained folder is produced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
