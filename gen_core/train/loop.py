"""The one training loop that the CLI, the UI and the tests all consume.

``train(...)`` is a generator of :class:`Event`: it seeds everything, picks the device (CUDA when present), runs
mixed precision on CUDA, clips gradients, stops with a ``diverged`` event on a NaN/inf loss or gradient *before*
the bad update touches the weights (so the model keeps its last good weights), can be cancelled between steps
(a ``threading.Event``, or simply closing the generator), checkpoints in the Hub layout plus a safetensors
training state, resumes from such a checkpoint, and runs unchanged under ``torchrun`` (DistributedDataParallel:
NCCL on CUDA, gloo on CPU).

The per-family work of one step lives in a *task*: :class:`LikelihoodTask` minimises ``model(batch)["loss"]``
with one optimizer (VAEs, autoencoders, flows). Adversarial families bring their own task with several
optimizers and their own alternation; they reuse :func:`apply_gradients` for the clip / finiteness check.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from gen_core.hub import WEIGHTS_NAME, HubModule, load_state_into
from gen_core.threads import seeded

EventKind = Literal["start", "step", "eval", "samples", "checkpoint", "diverged", "cancelled", "done"]
STATE_TENSORS = "training_state.safetensors"
STATE_JSON = "training_state.json"


@dataclass
class TrainConfig:
    """Settings of one training run (the model's own hyperparameters live in its config)."""

    steps: int = 10_000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str = "auto"               # "auto": CUDA when present, else CPU; or "cpu", "cuda", "cuda:1"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 autocast on CUDA (fp16 if no bf16), fp32 on
                                       # CPU; "bf16" on CPU: bf16 autocast (1.3-1.4x conv64 steps/s on AVX512-BF16)
    grad_clip: float | None = 1000.0   # max global grad norm; VAE losses are summed over 784 pixels, so
                                       # typical norms are ~100: this only tames rare spikes
    log_every: int = 50                # a "step" event (interval means of the metrics) every this many steps
    eval_every: int = 0                # 0 = only at the end (when an eval_fn is given)
    sample_every: int = 0              # 0 = only at the end (when a sample_fn is given)
    checkpoint_every: int = 0          # 0 = only at the end (when out_dir is set)
    out_dir: str | None = None         # Hub-format checkpoint folder
    compile: bool = False              # run the model's forward (loss) under torch.compile: ~1.5x faster steps for
                                       # small flows on CPU, after a one-time compile of tens of seconds
    private_noise: bool = False        # draw the model's training noise (``model.step_noise``: a VAE's or AVB's
                                       # reparameterisation and prior draws) from a generator of this run's own,
                                       # seeded seed + 2 + rank, not torch's global RNG, which other threads share:
                                       # the dashboard's live runs, so that concurrent visitors' runs stay
                                       # reproducible. Not checkpointed: such a run cannot resume.


@dataclass
class Event:
    """What the loop reports. ``metrics`` are floats; ``images`` are samples or reconstructions for display."""

    kind: EventKind
    step: int
    metrics: dict[str, float] = field(default_factory=dict)
    images: Tensor | None = None
    message: str = ""


class Diverged(RuntimeError):
    """A loss or gradient became NaN or infinite; the step was not applied."""


# --------------------------------------------------------------------------------------------------------------
# Devices, seeds, distributed set-up


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device`` after a check."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available here; use 'cpu' or 'auto'.")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every CUDA device); torch's under :func:`gen_core.threads.seeded`'s
    lock, so it never lands inside another thread's seeded block."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    with seeded(seed):                   # the lock's only job here: not inside another thread's seeded block
        pass


@dataclass(frozen=True)
class DistInfo:
    """Rank and world size; world_size 1 when not launched by torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (env WORLD_SIZE > 1): NCCL on CUDA, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                    local_rank=int(os.environ.get("LOCAL_RANK", "0")))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision setting, or None for full fp32."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type != "cuda" and precision != "bf16":
        raise ValueError(f"precision {precision!r} needs CUDA; on CPU use 'fp32', 'bf16' or 'auto'.")
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]


# --------------------------------------------------------------------------------------------------------------
# Data sources


class BatchSource(Protocol):
    """Anything that hands out training batches and can save/restore its random state."""

    def next_batch(self) -> Tensor: ...
    def get_state(self) -> dict[str, Tensor]: ...
    def set_state(self, state: dict[str, Tensor]) -> None: ...


class TensorBatches:
    """Shuffled mini-batches (epochs without replacement) from a tensor held on the device.

    uint8 data is scaled to [0, 1]. Under DDP each rank takes its own slice of every epoch's permutation.
    ``transform(batch, generator)`` (e.g. ``model.preprocess`` for binarisation) runs on the device.
    """

    def __init__(self, data: Tensor, batch_size: int, seed: int, device: torch.device,
                 transform: Callable[[Tensor, torch.Generator], Tensor] | None = None,
                 dist_info: DistInfo = DistInfo()) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if data.shape[0] < batch_size * dist_info.world_size:
            raise ValueError(f"{data.shape[0]} examples are too few for batch_size {batch_size}"
                             f" x {dist_info.world_size} processes")
        self.data = data.to(device)
        self.batch_size = batch_size
        self.transform = transform
        self.dist = dist_info
        self.perm_gen = torch.Generator().manual_seed(seed)                       # same on every rank
        self.noise_gen = torch.Generator(device=device).manual_seed(seed + 1 + dist_info.rank)
        self._perm = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def next_indices(self) -> Tensor:
        """Rows of the next batch (a new permutation when the epoch runs out), on the data's device."""
        if self._pos + self.batch_size > self._perm.numel():
            perm = torch.randperm(self.data.shape[0], generator=self.perm_gen)
            self._perm = perm[self.dist.rank::self.dist.world_size]
            self._pos = 0
        idx = self._perm[self._pos:self._pos + self.batch_size].to(self.data.device)
        self._pos += self.batch_size
        return idx

    def next_batch(self, idx: Tensor | None = None) -> Tensor:
        """The next batch (or rows ``idx``), scaled to [0, 1] if uint8 and passed through ``transform``."""
        idx = self.next_indices() if idx is None else idx
        batch = self.data[idx]
        if batch.dtype == torch.uint8:
            batch = batch.float().div_(255.0)
        return self.transform(batch, self.noise_gen) if self.transform is not None else batch

    def get_state(self) -> dict[str, Tensor]:
        state = {"perm_gen": self.perm_gen.get_state(), "perm": self._perm.clone(),
                 "pos": torch.tensor([self._pos])}
        if self.noise_gen.device.type == "cpu":
            state["noise_gen"] = self.noise_gen.get_state()
        return state

    def set_state(self, state: dict[str, Tensor]) -> None:
        self.perm_gen.set_state(state["perm_gen"])
        self._perm, self._pos = state["perm"].clone(), int(state["pos"][0])
        if "noise_gen" in state and self.noise_gen.device.type == "cpu":
            self.noise_gen.set_state(state["noise_gen"])


class LabelledBatches(TensorBatches):
    """:class:`TensorBatches` that hands out ``(images, labels)`` pairs: the same shuffled rows of both tensors.

    For class-conditional models (CVAE, conditional DCGAN) and the classifier; ``transform`` acts on the images.
    """

    def __init__(self, images: Tensor, labels: Tensor, batch_size: int, seed: int, device: torch.device,
                 transform: Callable[[Tensor, torch.Generator], Tensor] | None = None,
                 dist_info: DistInfo = DistInfo()) -> None:
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
        super().__init__(images, batch_size, seed, device, transform, dist_info)
        self.labels = labels.to(device)

    def next_batch(self) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        idx = self.next_indices()
        return super().next_batch(idx), self.labels[idx]


class SamplerBatches:
    """Fresh batches from a distribution with ``sample(n, generator)`` (the 2-D toy targets)."""

    def __init__(self, target: Any, batch_size: int, seed: int, device: torch.device,
                 dist_info: DistInfo = DistInfo()) -> None:
        self.target, self.batch_size, self.device = target, batch_size, device
        self.gen = torch.Generator().manual_seed(seed + dist_info.rank)

    def next_batch(self) -> Tensor:
        return self.target.sample(self.batch_size, generator=self.gen).to(self.device)

    def get_state(self) -> dict[str, Tensor]:
        return {"gen": self.gen.get_state()}

    def set_state(self, state: dict[str, Tensor]) -> None:
        self.gen.set_state(state["gen"])


# --------------------------------------------------------------------------------------------------------------
# Tasks: the per-family work of one step


def apply_gradients(loss: Tensor, params: list[nn.Parameter], optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None, grad_clip: float | None, distributed: bool = False,
                    *, only_params: bool = False, retain_graph: bool = False) -> Tensor:
    """Backward, clip, check finiteness, step. Raises :class:`Diverged` before stepping on a NaN/inf.

    Returns the global gradient norm (before clipping). Under DDP the finiteness verdict is agreed across ranks.
    ``only_params``: accumulate gradients into ``params`` alone (``backward(inputs=params)``), so autograd skips
    the weight gradients of every other module the loss flows through (an adversarial generator step does not
    compute the discriminator's). ``retain_graph``: keep the graph for a second backward (simultaneous updates).
    """
    optimizer.zero_grad(set_to_none=True)
    inputs = params if only_params else None
    if scaler is not None:
        scaler.scale(loss).backward(inputs=inputs, retain_graph=retain_graph)
        scaler.unscale_(optimizer)
    else:
        loss.backward(inputs=inputs, retain_graph=retain_graph)
    max_norm = grad_clip if grad_clip is not None else float("inf")
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    # With an fp16 scaler an inf gradient is routine (the scaler skips that step); only the loss must be finite.
    ok = torch.isfinite(loss.detach()) if scaler is not None else torch.isfinite(loss.detach()) & torch.isfinite(grad_norm)
    if distributed:
        flag = ok.to(torch.float32).reshape(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        ok = flag[0] > 0
    if not bool(ok):
        optimizer.zero_grad(set_to_none=True)
        raise Diverged(f"loss {loss.item():.4g}, gradient norm {grad_norm.item():.4g}")
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return grad_norm


def warm_up_optimizer() -> None:
    """Build and step one throwaway Adam, so that torch's one-time imports happen now.

    torch's first optimizer step imports ``torch._dynamo`` (about 3 s on a 2-core CPU). The app calls this in a
    background thread at start-up, so a user's first live run does not pay it; the benchmarks call it before
    timing, so it does not land on whichever loop runs first.
    """
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param])
    param.grad = torch.ones(1)
    optimizer.step()


class Task(Protocol):
    """One training step of a model family, owning its optimizers."""

    model: HubModule

    def step(self, batch: Tensor, step: int) -> dict[str, Tensor]: ...
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...


class LikelihoodTask:
    """Minimise ``model(batch, step)["loss"]`` with Adam; the other outputs are reported as metrics."""

    def __init__(self, model: HubModule, config: TrainConfig, device: torch.device, dist_info: DistInfo) -> None:
        self.model = model
        self.config = config
        self.distributed = dist_info.world_size > 1
        self.net: nn.Module = model
        if self.distributed:
            ids = [device.index if device.index is not None else dist_info.local_rank] if device.type == "cuda" else None
            self.net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        if config.compile:
            self.net = torch.compile(self.net)
        self.params = [p for p in model.parameters() if p.requires_grad]
        # fused Adam: one kernel over all parameters instead of one small op per tensor (measured 4x faster
        # optimizer steps on CPU for a flow's 48 tensors); same update rule
        self.optimizer = torch.optim.Adam(self.params, lr=config.lr, weight_decay=config.weight_decay, fused=True)
        self.amp_dtype = autocast_dtype(config.precision, device)
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

    def step(self, batch: Tensor, step: int) -> dict[str, Tensor]:
        ctx = (torch.autocast(self.device_type, dtype=self.amp_dtype) if self.amp_dtype is not None
               else contextlib.nullcontext())
        with ctx:
            out = self.net(batch, step)
        grad_norm = apply_gradients(out["loss"], self.params, self.optimizer, self.scaler,
                                    self.config.grad_clip, self.distributed)
        metrics = {k: v.detach().float() for k, v in out.items()}
        metrics["grad_norm"] = grad_norm.detach().float()
        return metrics

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"optimizer": self.optimizer}


# --------------------------------------------------------------------------------------------------------------
# Checkpoints: Hub-format model + a safetensors training state (no pickle anywhere)


def save_checkpoint(out_dir: str | Path, task: Task, step: int, source: BatchSource, train_config: TrainConfig,
                    card: str | None = None, wall_time_s: float = 0.0) -> Path:
    """Write the model in Hub layout plus optimizer and RNG state (``training_state.safetensors`` + ``.json``)."""
    out = Path(out_dir)
    task.model.save_pretrained(out, card=card)
    tensors: dict[str, Tensor] = {"rng.torch": torch.get_rng_state()}
    tensors.update({f"data.{k}": v.cpu().contiguous() for k, v in source.get_state().items()})
    if hasattr(task, "get_state"):  # a task with its own random state (e.g. the adversarial task's noise)
        tensors.update({f"task.{k}": v.cpu().contiguous() for k, v in task.get_state().items()})
    meta: dict[str, Any] = {"step": step, "wall_time_s": wall_time_s, "train_config": asdict(train_config), "optimizers": {}}
    for name, opt in task.optimizers().items():
        sd = opt.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, pstate in sd["state"].items():
            for key, value in pstate.items():
                if isinstance(value, Tensor):
                    tensors[f"{name}.{idx}.{key}"] = value.detach().cpu().contiguous()
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        meta["optimizers"][name] = {"param_groups": sd["param_groups"], "scalars": scalars,
                                    "indices": [int(i) for i in sd["state"]]}
    save_file(tensors, str(out / STATE_TENSORS))
    (out / STATE_JSON).write_text(json.dumps(meta, indent=2))
    return out


def load_training_state(folder: str | Path, task: Task, source: BatchSource) -> tuple[int, float]:
    """Restore optimizer and RNG state saved by :func:`save_checkpoint`; returns (step, wall time so far in s)."""
    folder = Path(folder)
    if not (folder / STATE_JSON).is_file() or not (folder / STATE_TENSORS).is_file():
        raise FileNotFoundError(f"{folder} holds no training state ({STATE_JSON}, {STATE_TENSORS}); "
                                f"it is not a checkpoint written by gen_core's training loop.")
    meta = json.loads((folder / STATE_JSON).read_text())
    tensors = load_file(str(folder / STATE_TENSORS))
    for name, opt in task.optimizers().items():
        saved = meta["optimizers"][name]
        state: dict[int, dict[str, Any]] = {}
        for idx in saved["indices"]:
            pstate = {k.split(".", 2)[2]: v for k, v in tensors.items() if k.startswith(f"{name}.{idx}.")}
            pstate.update(saved["scalars"].get(str(idx), {}))
            state[idx] = pstate
        opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    torch.set_rng_state(tensors["rng.torch"])
    source.set_state({k[len("data."):]: v for k, v in tensors.items() if k.startswith("data.")})
    task_state = {k[len("task."):]: v for k, v in tensors.items() if k.startswith("task.")}
    if task_state and hasattr(task, "set_state"):
        task.set_state(task_state)
    return int(meta["step"]), float(meta.get("wall_time_s", 0.0))


# --------------------------------------------------------------------------------------------------------------
# The loop


def train(model: HubModule, data: Tensor | BatchSource, config: TrainConfig, *,
          eval_fn: Callable[[HubModule], dict[str, float]] | None = None,
          sample_fn: Callable[[HubModule], Tensor] | None = None,
          cancel: threading.Event | None = None,
          task_factory: Callable[[HubModule, TrainConfig, torch.device, DistInfo], Task] = LikelihoodTask,
          resume_from: str | Path | None = None,
          card_fn: Callable[[int], str] | None = None) -> Iterator[Event]:
    """Train ``model`` on ``data`` and yield :class:`Event` s; the last event is ``done``, ``cancelled`` or ``diverged``.

    ``data``: a tensor of examples (uint8 images are scaled to [0, 1] and passed through ``model.preprocess``)
    or a :class:`BatchSource`. ``eval_fn`` / ``sample_fn`` run on the main process in eval mode without
    gradients. ``resume_from``: a checkpoint folder written by this loop (weights, optimizer, RNG, step).

    >>> for event in train(model, images, TrainConfig(steps=100)):  # doctest: +SKIP
    ...     print(event.kind, event.step, event.metrics)
    """
    if config.steps < 0:
        raise ValueError(f"steps must be >= 0, got {config.steps}")
    device = pick_device(config.device)
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    dist_info = init_distributed(device)
    seed_everything(config.seed + dist_info.rank)
    if resume_from is not None and config.private_noise:
        raise ValueError("a run with private_noise=True cannot resume: its noise generator is not checkpointed; "
                         "train it again from the start, or use private_noise=False")
    noise = (torch.Generator(device=device).manual_seed(config.seed + 2 + dist_info.rank)
             if config.private_noise else None)
    if resume_from is not None:
        load_state_into(model, Path(resume_from) / WEIGHTS_NAME)
    model.to(device).train()
    if isinstance(data, Tensor):
        preprocess = getattr(model, "preprocess", None)
        source: BatchSource = TensorBatches(data, config.batch_size, config.seed, device,
                                            transform=preprocess, dist_info=dist_info)
    else:
        source = data
    task = task_factory(model, config, device, dist_info)
    start, wall_before = load_training_state(resume_from, task, source) if resume_from is not None else (0, 0.0)
    t_start = time.perf_counter()

    def wall() -> float:
        return wall_before + time.perf_counter() - t_start

    last_eval = last_ckpt = -1

    def run_eval(step: int) -> Iterator[Event]:
        nonlocal last_eval
        last_eval = step
        model.eval()
        with torch.no_grad():
            if eval_fn is not None:
                yield Event("eval", step, {k: float(v) for k, v in eval_fn(model).items()})
            if sample_fn is not None:
                yield Event("samples", step, images=sample_fn(model).detach().cpu())
        model.train()

    def checkpoint(step: int) -> Event:
        nonlocal last_ckpt
        last_ckpt = step
        path = save_checkpoint(config.out_dir, task, step, source, config,  # type: ignore[arg-type]
                               card=card_fn(step) if card_fn else None, wall_time_s=wall())
        return Event("checkpoint", step, message=str(path))

    yield Event("start", start, {"world_size": float(dist_info.world_size)}, message=f"device {device}")
    sums: dict[str, Tensor] = {}
    count, t_last, step = 0, time.perf_counter(), start
    try:
        for step in range(start + 1, config.steps + 1):
            if cancel is not None and cancel.is_set():
                yield Event("cancelled", step - 1, message="training cancelled")
                return
            model.step_noise = noise         # only while the step runs: frames and evals between steps use their own
            try:
                metrics = task.step(source.next_batch(), step)
            except Diverged as err:
                diverged: Diverged | None = err
            else:
                diverged = None
            finally:
                model.step_noise = None
            if diverged is not None:
                yield Event("diverged", step - 1, message=(
                    f"Training diverged at step {step} ({diverged}); the update was not applied, so the model "
                    f"keeps its last good weights. Try a lower learning rate or stronger gradient clipping."))
                return
            for k, v in metrics.items():
                sums[k] = sums[k] + v if k in sums else v.clone()
            count += 1
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                means = {k: float(v) / count for k, v in sums.items()}
                means["steps_per_s"] = count / max(now - t_last, 1e-9)
                yield Event("step", step, means)
                sums, count, t_last = {}, 0, now
            if not dist_info.is_main:
                continue
            if (config.eval_every and step % config.eval_every == 0) or (config.sample_every and step % config.sample_every == 0):
                yield from run_eval(step)
            if config.out_dir and config.checkpoint_every and step % config.checkpoint_every == 0:
                yield checkpoint(step)
        if dist_info.is_main:
            if last_eval != step:
                yield from run_eval(step)
            if config.out_dir and last_ckpt != step:
                yield checkpoint(step)
        yield Event("done", step, {"wall_time_s": wall()})
    finally:
        model.eval()
