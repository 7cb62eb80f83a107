"""Train the beta-VAE sweep and the two CycleGANs on one GPU inside a fixed wall-clock budget, and check that every
other trainer of the CLI runs on CUDA.

The lent GPU machine (16 cores, one H200) is held for minutes, not hours, so this script plans its own runs:

1. **Probe**: every run of ``RUNS`` is started at once, as in the real phase, for a few hundred steps with cheap
   metrics; each one's steps/s is read from the ``wall_time_s`` of its model card (training only).
2. **Plan**: each run gets the steps that fit ``--budget-s`` at that rate (minus time for its metrics), rounded
   down to a multiple of 500; the beta-VAEs share one step count (the smallest), so the sweep keeps one schedule.
3. **Train**: all runs at once with the full metrics of their CLI (the disentanglement_lib protocol for the
   beta-VAEs); meanwhile every other trainer of the CLI is run for a few steps on CUDA, one after another.
4. **Pack**: one tar per run in ``--out`` (config.json, model.safetensors, README.md, and the optimizer state of a
   run killed during its metrics), and ``logs.tar.gz`` with every log and ``summary.json`` (the plan, each run's
   return code and wall time, the CUDA checks): at most 8 files, as the device tool returns.

    python benchmarks/gpu_sweep.py --out $OUT --budget-s 520 [--device cuda] [--only bvae-b4,cyclegan-sketch]

The exact training command of each model is in its card, as always; only the step counts come from this plan.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import yaml

BETAS = (1, 2, 4, 8, 16)
BVAE = ["vae", "--dataset", "dsprites", "--latent-dim", "10", "--batch-size", "64", "--lr", "4e-4",
        "--lr-schedule", "cosine", "--seed", "0", "--threads", "2", "--log-every", "1000"]
# CycleGANs: the shipped 24-filter generators (2026-12-06; 16 filters stalled at a boot cycle L1 of 0.050 on CPU)
CYCLEGAN = ["cyclegan", "--batch-size", "8", "--lr", "2e-4", "--channels", "24", "--res-blocks", "3",
            "--d-channels", "32", "--seed", "0", "--threads", "2", "--log-every", "500"]
RUNS: dict[str, list[str]] = {
    **{f"bvae-b{b}": [*BVAE, "--beta", str(b)] for b in BETAS},
    "cyclegan-sketch": [*CYCLEGAN, "--pair", "sketch"],
    "cyclegan-shoes": [*CYCLEGAN, "--pair", "shoes"],
}
PROBE_STEPS = {"bvae": 1500, "cyclegan": 300}
EVAL_RESERVE_S = {"bvae": 120.0, "cyclegan": 60.0}   # the metrics after training, and writing the card
PROBE_EVAL = {"bvae": ["--metrics-preset", "smoke", "--eval-n", "500"], "cyclegan": []}
SMOKE: dict[str, list[str]] = {   # every other trainer of the CLI: a few steps on the device, small evaluations
    "vae-fmnist": ["vae", "--steps", "30", "--latent-dim", "2", "--eval-n", "500", "--iwae-k", "0"],
    "autoencoder": ["autoencoder", "--steps", "30", "--latent-dim", "4", "--eval-n", "500"],
    "flow-realnvp": ["flow", "--flow", "realnvp", "--target", "ring", "--steps", "30", "--eval-n", "2000"],
    "flow-spline": ["flow", "--flow", "spline", "--target", "banana", "--steps", "30", "--eval-n", "2000"],
    "gan-ring": ["gan", "--target", "ring", "--loss", "lsgan", "--steps", "30", "--batch-size", "64"],
    "gan-wgan-gp": ["gan", "--target", "grid", "--loss", "wgan_gp", "--scheme", "n_critic", "--n-critic", "2",
                    "--normalization", "spectral", "--steps", "30", "--batch-size", "64"],
    "dcgan": ["dcgan", "--steps", "20", "--batch-size", "32"],
    "cdcgan": ["dcgan", "--n-classes", "10", "--steps", "20", "--batch-size", "32"],
    "classifier": ["classifier", "--steps", "20", "--batch-size", "64"],
    "cvae": ["cvae", "--steps", "20", "--eval-n", "500"],
    "vqvae": ["vqvae", "--steps", "20", "--eval-n", "500"],
    "dvae": ["dvae", "--steps", "20", "--eval-n", "500"],
    "flow-prior-vae": ["flow_prior_vae", "--steps", "20", "--eval-n", "500"],
    "avb": ["avb", "--steps", "20", "--latent-dim", "2", "--eval-n", "500"],
}


def family(name: str) -> str:
    return name.split("-")[0]


def start(args: list[str], out: Path, log: Path, device: str) -> subprocess.Popen:
    """``python -m gen_core train ARGS --out OUT --device DEVICE`` in the background, output to ``log``."""
    cmd = [sys.executable, "-m", "gen_core", "train", *args, "--out", str(out), "--device", device]
    handle = log.open("w")
    handle.write(" ".join(cmd) + "\n")
    handle.flush()
    return subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT)


def card_training(folder: Path) -> dict:
    """The ``gen_core_training`` block of a model card's YAML header ({} when there is no card)."""
    card = folder / "README.md"
    if not card.is_file():
        return {}
    text = card.read_text()
    if not text.startswith("---"):
        return {}
    return (yaml.safe_load(text.split("---")[1]) or {}).get("gen_core_training", {})


def recent_rate(log: Path) -> float | None:
    """The last steps/s that tqdm printed to ``log`` (a smoothed recent rate, past the first steps' warm-up)."""
    found = re.findall(r"([0-9.]+)step/s", log.read_text(errors="replace")) if log.is_file() else []
    return float(found[-1]) if found else None


def wait_all(procs: dict[str, subprocess.Popen], deadline: float) -> dict[str, int | None]:
    """Wait for every process until ``deadline`` (time.monotonic); kill the rest. Return codes (None: killed)."""
    codes: dict[str, int | None] = {}
    for name, proc in procs.items():
        try:
            codes[name] = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            codes[name] = None
    return codes


def smoke_all(work: Path, device: str, results: dict, stop_at: float) -> None:
    """Run every ``SMOKE`` trainer for a few steps on ``device``, one after another, until ``stop_at``."""
    for name, args in SMOKE.items():
        if time.monotonic() > stop_at - 45:
            results[name] = {"rc": "not run: out of time"}
            continue
        t = time.monotonic()
        proc = start(args, work / "smoke" / name, work / "logs" / f"smoke-{name}.log", device)
        try:
            rc: int | str = proc.wait(timeout=max(5.0, stop_at - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = "killed at the deadline"
        tail = (work / "logs" / f"smoke-{name}.log").read_text()[-600:]
        results[name] = {"rc": rc, "seconds": round(time.monotonic() - t, 1), "tail": tail if rc != 0 else ""}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="where the tar files and summary.json go")
    p.add_argument("--work", default="/tmp/gpu_sweep", help="scratch folder for the runs")
    p.add_argument("--budget-s", type=float, default=520.0, help="wall-clock seconds for everything")
    p.add_argument("--device", default="cuda")
    p.add_argument("--only", default="", help="comma-separated subset of the runs")
    p.add_argument("--probe-scale", type=float, default=1.0, help="multiply the probe steps (tests: 0.01)")
    p.add_argument("--no-smoke", action="store_true")
    args = p.parse_args()
    t0 = time.monotonic()
    deadline = t0 + args.budget_s
    out, work = Path(args.out), Path(args.work)
    (work / "logs").mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    runs = {k: v for k, v in RUNS.items() if not args.only or k in args.only.split(",")}
    summary: dict = {"device": args.device, "budget_s": args.budget_s, "runs": {}, "smoke": {}}
    try:
        import torch
        summary["torch"] = torch.__version__
        summary["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception as err:  # noqa: BLE001 - reported, not fatal
        summary["torch"] = repr(err)

    # 1. probe: all runs at once, a few hundred steps each
    probe_steps = {n: max(2, int(PROBE_STEPS[family(n)] * args.probe_scale)) for n in runs}
    procs = {n: start([*a, "--steps", str(probe_steps[n]), *PROBE_EVAL[family(n)]], work / "probe" / n,
                      work / "logs" / f"probe-{n}.log", args.device) for n, a in runs.items()}
    codes = wait_all(procs, t0 + 0.3 * args.budget_s)
    rates = {}
    for n in runs:
        wall = card_training(work / "probe" / n).get("wall_time_s")
        mean = probe_steps[n] / max(float(wall), 1e-3) if codes[n] == 0 and wall else None
        recent = recent_rate(work / "logs" / f"probe-{n}.log")
        # the card's mean rate counts the first steps' warm-up; tqdm's recent rate does not (trusted up to 1.5x)
        rates[n] = None if mean is None else max(mean, min(recent or 0.0, 1.5 * mean))
    summary["probe"] = {"seconds": round(time.monotonic() - t0, 1), "steps": probe_steps, "return_codes": codes,
                        "steps_per_s": rates}
    print(json.dumps(summary["probe"], indent=2), flush=True)

    # 2. plan: the steps that fit, a multiple of 500; one count for the whole beta sweep
    left = deadline - time.monotonic() - 20.0       # packing and slack
    plan = {}
    for n, r in rates.items():
        if r is None:
            continue
        fit = r * max(0.0, left - EVAL_RESERVE_S[family(n)])
        plan[n] = int(math.floor(fit / 500.0) * 500) if fit >= 500 else int(fit)
    bvae = [plan[n] for n in plan if family(n) == "bvae"]
    for n in plan:
        if family(n) == "bvae":
            plan[n] = min(bvae)
    plan = {n: s for n, s in plan.items() if s >= 2}
    summary["plan"] = plan
    print("plan", plan, flush=True)

    # 3. train, and the CUDA checks of the other trainers beside
    t_train = time.monotonic()
    procs = {n: start([*runs[n], "--steps", str(s), "--checkpoint-every", str(s)], work / "runs" / n,
                      work / "logs" / f"{n}.log", args.device) for n, s in plan.items()}
    smoke = threading.Thread(target=smoke_all, args=(work, args.device, summary["smoke"], deadline - 20.0))
    if not args.no_smoke:
        smoke.start()
    codes = wait_all(procs, deadline - 15.0)
    if smoke.is_alive():
        smoke.join(timeout=max(0.0, deadline - 12.0 - time.monotonic()))
    for n in plan:
        training = card_training(work / "runs" / n)
        summary["runs"][n] = {"rc": codes[n], "steps": plan[n], "train_wall_s": training.get("wall_time_s"),
                              "process_s": round(time.monotonic() - t_train, 1)}

    # 4. pack: one tar per run (under 16 MiB each). A run killed during its metrics still has the weights of its
    # last step (the loop checkpoints there); its optimizer state comes along so that `train ... --resume` here
    # can finish the evaluation and write the card.
    for n in plan:
        folder = work / "runs" / n
        if not (folder / "model.safetensors").is_file():
            continue
        names = ["config.json", "model.safetensors", "README.md", "training_state.json"]
        if codes[n] != 0:
            names.append("training_state.safetensors")
        with tarfile.open(out / f"{n}.tar", "w") as tar:
            for f in names:
                if (folder / f).is_file():
                    tar.add(folder / f, arcname=f"{n}/{f}")
    summary["total_s"] = round(time.monotonic() - t0, 1)
    (work / "logs" / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        tar.add(work / "logs", arcname="logs")
    print(json.dumps({k: summary[k] for k in ("plan", "runs", "total_s")}, indent=2, default=str))
    print(json.dumps({k: v.get("rc") for k, v in summary["smoke"].items()}))
    for name, result in summary["smoke"].items():
        if result.get("rc") != 0:
            print(f"smoke {name}: {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
