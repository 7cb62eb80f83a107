"""Exact encoder means of a conv64 VAE on images with a black background, computing the first three convolutions
only where the image is not black.

The disentanglement metrics encode all 737,280 dSprites images (``EncodedOnce.prefill``), and 85% of the
encoder's multiply-adds are in its first three convolutions (64 -> 32 -> 16 -> 8). A dSprites sprite covers at
most 30 x 30 of the 64 x 64 pixels, and a unit whose receptive field holds only black pixels has the value it has
on an all-black image. So each image needs those layers only on the window of third-layer units that see its
sprite (on average about a quarter of them); the rest is copied from the all-black image's activations. The result
is the full encoder's computation, up to the order of float additions (``tests/test_windowed_encoder.py``).

Geometry (``ConvEncoder64``: kernel 4, stride 2, padding 1 twice, then kernel 2, stride 2): unit ``o`` of the
first layer sees input rows ``2o - 1 ... 2o + 2``, unit ``o2`` of the second rows ``4 o2 - 3 ... 4 o2 + 6``, unit
``o3`` of the third the second-layer units ``2 o3, 2 o3 + 1``, so rows ``8 o3 - 3 ... 8 o3 + 10``. For the window
``[a, b)`` of third-layer units along one axis the three layers run on these input rows, with this padding in
the first two:

- inside the frame (``a > 0``, ``b < 8``): rows ``8a - 3 ... 8b + 2``, padding 0 (every first-layer unit used
  lies inside the frame, so no zero padding is involved);
- at the low edge (``a = 0``, ``b < 8``): rows ``0 ... 8b + 2``, padding 1: the padding on the low side is the
  encoder's own, and the row it adds on the far side is used by no unit in the window;
- at the high edge (``b = 8``): the whole axis, padding 1 (the far-side argument does not align there).

Images are grouped by window start and run in batches of 64 (the batch size that this CPU encodes fastest): the
first two layers through frozen TorchScript copies (one per padding pattern; oneDNN prepacked, conv + ReLU fused),
the 2x2 stride-2 layers and the fully connected ones as matrix products on (row, column, channel) patches, since
their patches do not overlap and oneDNN runs that kernel shape at a third of its usual speed here. Lecture notes
000 A.3.2 / 001: the beta-VAE whose encoder mean the metrics score.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from gen_core.threads import one_thread

GRID = 8           # third-layer units per axis (64 -> 32 -> 16 -> 8)
BATCH = 64         # images per frozen-graph call
IMAGE = 64


def frozen_for_inference(module: nn.Module, example: Tensor) -> Any:
    """``module`` traced on ``example`` and frozen for CPU inference (oneDNN weights prepacked, conv + ReLU fused;
    the graph holds no shapes, so any crop or batch size runs). Raises what tracing raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.optimize_for_inference(torch.jit.trace(module.eval(), example, check_trace=False))


def _is_conv(layer: nn.Module, in_ch: int, kernel: int, padding: int) -> bool:
    return (isinstance(layer, nn.Conv2d) and layer.in_channels == in_ch and layer.kernel_size == (kernel, kernel)
            and layer.stride == (2, 2) and layer.padding == (padding, padding) and layer.dilation == (1, 1)
            and layer.groups == 1 and layer.padding_mode == "zeros")


class _Head(nn.Module):
    """The encoder's first two convolutions and ReLUs with the given (rows, columns) zero padding."""

    def __init__(self, convs: list[nn.Conv2d], padding: tuple[int, int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList()
        for conv in convs:
            copy_ = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=2, padding=padding)
            copy_.load_state_dict(conv.state_dict())
            self.convs.append(copy_)

    def forward(self, x: Tensor) -> Tensor:
        for conv in self.convs:
            x = torch.relu(conv(x))
        return x


def _patch_weight(conv: nn.Conv2d) -> tuple[Tensor, Tensor]:
    """A 2x2 stride-2 convolution as a matrix (4 C_in, C_out) over patches ordered (row, column, channel)."""
    w = conv.weight.detach()                                   # (C_out, C_in, 2, 2)
    return w.permute(2, 3, 1, 0).reshape(4 * w.shape[1], w.shape[0]).contiguous(), conv.bias.detach().clone()


def _patch_conv(h: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """ReLU of a 2x2 stride-2 convolution of ``h`` (B, H, W, C) as one matrix product: the patches do not
    overlap, and on this CPU oneDNN runs this kernel shape at a third of its usual speed. -> (B, H/2, W/2, C_out)."""
    b, rows, cols, c = h.shape
    patches = h.reshape(b, rows // 2, 2, cols // 2, 2, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 4 * c)
    return torch.relu(torch.addmm(bias, patches, weight)).view(b, rows // 2, cols // 2, -1)


def ink_windows(x: Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per image of ``x`` (N, 1, 64, 64) with pixels >= 0, the window ``[a, b)`` of third-layer units per axis
    (rows, then columns) whose receptive fields hold a non-zero pixel: unit ``o3`` sees rows
    ``8 o3 - 3 ... 8 o3 + 10``. An all-zero image gets the empty window ``[0, 0)``.
    Returns ``(ay, by, ax, bx)``, each (N,) int64."""
    idx = torch.arange(IMAGE)

    def span(ink: Tensor) -> tuple[np.ndarray, np.ndarray]:     # ink (N, 64): rows (or columns) with a pixel > 0
        first = torch.where(ink, idx, IMAGE).amin(1)
        last = torch.where(ink, idx, -1).amax(1)
        a = torch.clamp(torch.div(first - 3, 8, rounding_mode="floor"), 0, GRID)   # ceil((first - 10) / 8)
        b = torch.clamp(torch.div(last + 3, 8, rounding_mode="floor") + 1, 0, GRID)
        empty = last < 0
        return torch.where(empty, 0, a).numpy(), torch.where(empty, 0, b).numpy()

    ay, by = span(x[:, 0].amax(2) > 0)      # two passes of amax: ~6x faster here than (x != 0).any
    ax, bx = span(x[:, 0].amax(1) > 0)
    return ay, by, ax, bx


def _axis_plan(a: int, b: int) -> tuple[int, int, int, int, int]:
    """For the window ``[a, b)`` of third-layer units on one axis: (input start, input stop, padding, window
    start, window stop) after the three cases of the module docstring."""
    if b >= GRID:
        return 0, IMAGE, 1, 0, GRID
    if a == 0:
        return 0, 8 * b + 3, 1, 0, b
    return 8 * a - 3, 8 * b + 3, 0, a, b


class WindowedConv64Mean:
    """``x -> mu(x)`` for a VAE with ``architecture="conv64"``, computing the first three layers on windows.

    Build it with :meth:`for_model` (None when the encoder is not the expected conv64 stack). Call it on
    (N, 1, 64, 64) images with pixels >= 0 on the CPU; it returns (N, latent_dim) means equal to
    ``model.encode(x)[0]`` up to float rounding. An image with ink everywhere still works: its window is the whole
    frame. With ``torch.get_num_threads()`` > 1 the batches run on that many threads of one intra-op thread each.
    """

    def __init__(self, layers: list[nn.Module], latent_dim: int,
                 fallback: Callable[[Tensor], Tensor] | None = None) -> None:
        """``layers``: the encoder's 12 modules (see :meth:`for_model`), already copied."""
        self.latent_dim = latent_dim
        self.fallback = fallback
        conv1, conv2, conv3, conv4, fc1, fc2 = (layers[i] for i in (0, 2, 4, 6, 9, 11))
        with torch.inference_mode():
            crop = torch.zeros(BATCH, 1, 38, 38)
            self.heads = {padding: frozen_for_inference(_Head([conv1, conv2], padding), crop)    # by (rows, columns) padding
                          for padding in ((0, 0), (0, 1), (1, 0), (1, 1))}
            self.conv3, self.conv4 = _patch_weight(conv3), _patch_weight(conv4)
            c4 = conv4.out_channels                                 # fc1 reads (channel, row, column) in order
            self.fc1 = (fc1.weight.detach().view(-1, c4, 4, 4).permute(2, 3, 1, 0).reshape(16 * c4, -1).contiguous(),
                        fc1.bias.detach().clone())
            self.fc2 = (fc2.weight.detach()[:latent_dim].t().contiguous(), fc2.bias.detach()[:latent_dim].clone())
            h = torch.relu(conv2(torch.relu(conv1(torch.zeros(1, 1, IMAGE, IMAGE)))))
            self.blank = _patch_conv(h.permute(0, 2, 3, 1), *self.conv3)   # (1, 8, 8, C3): an all-black image
        self.images_encoded = 0

    @classmethod
    def for_model(cls, model: nn.Module,
                  fallback: Callable[[Tensor], Tensor] | None = None) -> WindowedConv64Mean | None:
        """The windowed mean of ``model`` (a copy of its weights), or None when its encoder is not
        ``ConvEncoder64``'s stack (conv 4x4/2/1, ReLU, conv 4x4/2/1, ReLU, conv 2x2/2, ReLU, conv 2x2/2, ReLU,
        Flatten, Linear, ReLU, Linear) or it is not on the CPU. ``fallback`` (the full encoder's means) takes the
        calls whose images have a pixel < 0."""
        net = getattr(getattr(model, "encoder", None), "net", None)
        latent_dim = getattr(model, "latent_dim", None)
        if not isinstance(net, nn.Sequential) or len(net) != 12 or not isinstance(latent_dim, int):
            return None
        if next(model.parameters()).device.type != "cpu":
            return None
        layers = list(net)
        convs_ok = (_is_conv(layers[0], 1, 4, 1) and _is_conv(layers[2], layers[0].out_channels, 4, 1)
                    and _is_conv(layers[4], layers[2].out_channels, 2, 0)
                    and _is_conv(layers[6], layers[4].out_channels, 2, 0))
        if not (convs_ok and all(isinstance(layers[i], nn.ReLU) for i in (1, 3, 5, 7, 10))
                and isinstance(layers[8], nn.Flatten) and isinstance(layers[9], nn.Linear)
                and isinstance(layers[11], nn.Linear) and layers[9].in_features == 16 * layers[6].out_channels
                and layers[11].out_features >= latent_dim):
            return None
        return cls(list(copy.deepcopy(net).eval()), latent_dim, fallback)

    def _encode_batch(self, x: Tensor, window: tuple[int, int, int, int]) -> Tensor:
        """Means of the images ``x`` (B, 1, 64, 64) that share the union ``window`` (ay, by, ax, bx)."""
        ay, by, ax, bx = window
        h = self.blank.expand(len(x), -1, -1, -1).clone()             # (B, 8, 8, C3), its own memory
        if by > ay and bx > ax:
            y0, y1, py, wy0, wy1 = _axis_plan(ay, by)
            x0, x1, px, wx0, wx1 = _axis_plan(ax, bx)
            h2 = self.heads[(py, px)](x[:, :, y0:y1, x0:x1].contiguous())   # (B, C2, 2 rows, 2 columns)
            h[:, wy0:wy1, wx0:wx1] = _patch_conv(h2.permute(0, 2, 3, 1), *self.conv3)
        h = _patch_conv(h, *self.conv4).reshape(len(x), -1)            # (B, 16 C4), (row, column, channel)
        h = torch.relu(torch.addmm(self.fc1[1], h, self.fc1[0]))
        return torch.addmm(self.fc2[1], h, self.fc2[0])

    @staticmethod
    def _jobs(windows: tuple[np.ndarray, ...]) -> list[tuple[np.ndarray, tuple[int, int, int, int]]]:
        """Batches of at most 64 image indices that share a window start, each with its union window."""
        ay, by, ax, bx = windows
        order = np.lexsort((bx, by, ax, ay))
        key = (ay * (GRID + 1) + ax)[order]
        jobs = []
        for group in np.split(order, np.flatnonzero(np.diff(key)) + 1):
            for s in range(0, len(group), BATCH):
                g = group[s:s + BATCH]
                jobs.append((g, (int(ay[g].min()), int(by[g].max()), int(ax[g].min()), int(bx[g].max()))))
        return jobs

    def __call__(self, x: Tensor) -> Tensor:
        """(N, 1, 64, 64) images with pixels >= 0 on the CPU -> encoder means (N, latent_dim)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, IMAGE, IMAGE):
            raise ValueError(f"expected images of shape (N, 1, 64, 64), got {tuple(x.shape)}")
        x = x.float().contiguous()
        if len(x) and x.min() < 0:
            if self.fallback is None:
                raise ValueError("the windowed encoder needs pixels >= 0 (it finds the ink as pixels > 0); "
                                 "encode images with negative values with the full encoder")
            return self.fallback(x)
        out = torch.empty(len(x), self.latent_dim)

        def run(job: tuple[np.ndarray, tuple[int, int, int, int]]) -> None:
            with torch.inference_mode():
                idx = torch.from_numpy(job[0])
                out[idx] = self._encode_batch(x[idx], job[1])

        workers = torch.get_num_threads()
        if workers < 2 or len(x) < 2 * BATCH:
            for job in self._jobs(ink_windows(x)):
                run(job)
        else:   # the windows of slices of x, then the batches, on ``workers`` threads of one intra-op thread each
            with one_thread(), ThreadPoolExecutor(workers, thread_name_prefix="encode") as pool:
                parts = list(pool.map(ink_windows, x.chunk(workers)))
                windows = tuple(np.concatenate([part[k] for part in parts]) for k in range(4))
                list(pool.map(run, self._jobs(windows)))
        self.images_encoded += len(x)
        return out
