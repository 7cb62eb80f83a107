"""CycleGAN (Zhu et al. 2017, "Unpaired image-to-image translation using cycle-consistent adversarial networks"),
scaled to 28x28 Fashion-MNIST images; lecture notes 004 (Zhang, PKU lecture 18), MODELS.md "CycleGAN".

Two generators ``G: X -> Y`` and ``F: Y -> X`` (here ``g_ab`` and ``g_ba``), two discriminators ``D_Y`` and ``D_X``
(``d_b``, ``d_a``), and the objective (notes 004, "Overall loss function")

    L(G, F, D_X, D_Y) = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X)
                        + lambda (E_x ||F(G(x)) - x||_1 + E_y ||G(F(y)) - y||_1)
                        + lambda_id lambda (E_y ||G(y) - y||_1 + E_x ||F(x) - x||_1)       (identity, Zhu et al. 5.2)

with the reference settings: least-squares GAN loss, lambda = 10, identity weight 0.5 lambda, a pool of the 50 most
recent fakes for the discriminators, Adam lr 2e-4 with beta1 = 0.5, the learning rate constant for the first half
of training and then decayed linearly to 0. Architecture after Zhu et al.'s ``resnet`` generator (c7s1-k,
two stride-2 down-convs, residual blocks, two up-convs, c7s1-1, instance norm, tanh) and 70x70 PatchGAN
discriminator (4x4 convs, leaky ReLU 0.2), both shrunk for 28x28 images: 28 -> 14 -> 7 in the generator, and a
PatchGAN whose 5x5 output map scores overlapping 22x22 patches.

The models do not own optimizers; :class:`CycleGANTask` (the shared loop's task) does, and writes the alternation
out: one generator update of G and F against the current discriminators, then one discriminator update of D_X and
D_Y on real images and pooled fakes.

    >>> model = CycleGAN(CycleGANConfig(channels=8, n_res_blocks=1))
    >>> model.translate(torch.rand(2, 1, 28, 28), "a2b").shape
    torch.Size([2, 1, 28, 28])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gen_core.hub import HubModule
from gen_core.train.loop import DistInfo, TrainConfig, apply_gradients

__all__ = ["CycleGANConfig", "CycleGAN", "ResnetGenerator", "PatchDiscriminator", "ImagePool", "CycleGANTask",
           "CycleGANOptim", "cyclegan_task", "CycleGAN2D", "CycleGAN2DConfig", "lsgan_d_loss", "lsgan_g_loss", "cycle_consistency_loss",
           "identity_loss", "cyclegan_generator_objective", "linear_decay_factor", "Direction"]

Direction = Literal["a2b", "b2a"]


# ----------------------------------------------------------------------------------------------------------------
# Losses: pure functions, each with its formula


def lsgan_d_loss(real_out: Tensor, fake_out: Tensor) -> Tensor:
    """Least-squares discriminator loss over every PatchGAN output, ``0.5 [E (D(y) - 1)^2 + E D(G(x))^2]``.

    Mao et al. 2017 with a = 0, b = 1, as in Zhu et al.'s reference code (``(loss_real + loss_fake) * 0.5``).
    The mean runs over the batch and the patch map, (B, 1, h, w) -> scalar.
    """
    return 0.5 * ((real_out - 1.0).pow(2).mean() + fake_out.pow(2).mean())


def lsgan_g_loss(fake_out: Tensor) -> Tensor:
    """Least-squares generator loss ``E (D(G(x)) - 1)^2`` over every patch (Zhu et al. 2017, eq. 1 with LSGAN)."""
    return (fake_out - 1.0).pow(2).mean()


def cycle_consistency_loss(x: Tensor, x_reconstructed: Tensor) -> Tensor:
    """Cycle loss ``E_x ||F(G(x)) - x||_1`` as a per-pixel mean (notes 004; Zhu et al. eq. 2, ``nn.L1Loss``)."""
    return (x_reconstructed - x).abs().mean()


def identity_loss(y: Tensor, g_of_y: Tensor) -> Tensor:
    """Identity loss ``E_y ||G(y) - y||_1`` as a per-pixel mean (Zhu et al. 5.2, after Taigman et al. 2017):
    a generator fed an image of its own output domain should leave it alone."""
    return (g_of_y - y).abs().mean()


def cyclegan_generator_objective(d_b_fake: Tensor, d_a_fake: Tensor, cycle_a: Tensor, cycle_b: Tensor,
                                 identity_a: Tensor, identity_b: Tensor, lambda_cycle: float,
                                 lambda_identity: float) -> Tensor:
    """What G and F minimise: ``E (D_Y(G(x)) - 1)^2 + E (D_X(F(y)) - 1)^2 + lambda (cyc_x + cyc_y)
    + lambda_id lambda (idt_x + idt_y)``, with ``cycle_*`` / ``identity_*`` the L1 terms above
    and ``lambda_identity`` the identity weight as a fraction of lambda (0.5 in Zhu et al.)."""
    adversarial = lsgan_g_loss(d_b_fake) + lsgan_g_loss(d_a_fake)
    return (adversarial + lambda_cycle * (cycle_a + cycle_b)
            + lambda_identity * lambda_cycle * (identity_a + identity_b))


def linear_decay_factor(step: int, total_steps: int, decay_start: float = 0.5) -> float:
    """Learning-rate multiplier of Zhu et al.: 1 for the first ``decay_start`` fraction of training, then linear to 0.

    With ``t`` the step being taken (1..T) and ``t0 = decay_start * T``: ``f(t) = 1`` for ``t <= t0``, else
    ``f(t) = (T - t + 1) / (T - t0 + 1)``, which falls by equal amounts each step and would reach 0 one step after
    the last (so the last update still moves). A function of the step alone: a resumed run continues it.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0.0 <= decay_start <= 1.0:
        raise ValueError(f"decay_start must be in [0, 1], got {decay_start}")
    t0 = decay_start * total_steps
    if step <= t0:
        return 1.0
    return max(0.0, (total_steps - step + 1) / (total_steps - t0 + 1))


# ----------------------------------------------------------------------------------------------------------------
# The image pool


class ImagePool:
    """The history of generated images that the discriminators see (Shrivastava et al. 2017; Zhu et al. 4).

    ``query(images)``: while the pool holds fewer than ``size`` images, each new image is stored and returned as is;
    once full, each image is, with probability 1/2, returned as is, and otherwise swapped with a uniformly chosen
    stored image, which is returned in its place (the new image takes its slot). ``size = 0`` disables the pool.
    The randomness comes from the pool's own ``torch.Generator``; its state is saved with the training state.
    """

    def __init__(self, size: int = 50, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.images: Tensor | None = None   # (n_stored, C, H, W)
        self.count = 0
        self.gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def query(self, images: Tensor) -> Tensor:
        """The batch to show the discriminator for this batch of (detached) fakes."""
        if self.size == 0:
            return images.detach()
        out = []
        for img in images.detach():
            if self.count < self.size:
                if self.images is None:
                    self.images = torch.empty((self.size, *img.shape), dtype=img.dtype, device=img.device)
                self.images[self.count] = img
                self.count += 1
                out.append(img)
            elif float(torch.rand((), generator=self.gen)) > 0.5:
                j = int(torch.randint(0, self.size, (), generator=self.gen))
                old = self.images[j].clone()   # type: ignore[index]
                self.images[j] = img           # type: ignore[index]
                out.append(old)
            else:
                out.append(img)
        return torch.stack(out)

    def get_state(self) -> dict[str, Tensor]:
        """Stored images, fill count and generator state (for an exact resume)."""
        state = {"count": torch.tensor([self.count]), "gen": self.gen.get_state()}
        if self.images is not None:
            state["images"] = self.images.detach().cpu()
        return state

    def set_state(self, state: dict[str, Tensor], device: torch.device | str = "cpu") -> None:
        """Restore :meth:`get_state`."""
        self.count = int(state["count"][0])
        self.gen.set_state(state["gen"])
        self.images = state["images"].to(device).clone() if "images" in state else None


# ----------------------------------------------------------------------------------------------------------------
# Networks


@dataclass
class CycleGANConfig:
    """A CycleGAN for 28x28 grey images. Field comments say why each value is what it is."""

    model_type: str = "cyclegan"
    pair: str = "sketch"               # which gen_core.data.domains pair it was trained on ("sketch" or "shoes")
    domain_a: str = "sketch"           # display names of the two domains
    domain_b: str = "garment"
    channels: int = 32                 # first generator layer (Zhu et al.: 64 for 256x256; 28x28 needs fewer)
    n_res_blocks: int = 3              # residual blocks at 7x7 (Zhu et al.: 6 for 128x128, 9 for 256x256)
    d_channels: int = 32               # first PatchGAN layer (Zhu et al.: 64)
    norm: Literal["instance", "batch"] = "instance"   # instance norm, as in Zhu et al.
    lambda_cycle: float = 10.0         # lambda, Zhu et al.
    lambda_identity: float = 0.5       # identity weight as a fraction of lambda (0.5 lambda, Zhu et al.)
    pool_size: int = 50                # past fakes shown to the discriminators (Zhu et al.)
    edge_threshold: float = 0.75       # sketch pair: the Sobel threshold of its edge maps (data.domains.EDGE_THRESHOLD)


def _norm(kind: str, c: int) -> nn.Module:
    return nn.InstanceNorm2d(c, affine=False) if kind == "instance" else nn.BatchNorm2d(c)


class ResnetBlock(nn.Module):
    """``x + [reflect-pad, conv3x3, norm, ReLU, reflect-pad, conv3x3, norm](x)`` (Zhu et al. appendix 7.2, R-k)."""

    def __init__(self, c: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(norm, c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), _norm(norm, c))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """c7s1-k, d2k, d4k, R4k x n, u2k, uk, c7s1-1 with tanh (Zhu et al. appendix 7.2), for (B, 1, 28, 28).

    Inputs and outputs are images in [0, 1]; inside, the network works on ``2x - 1`` in [-1, 1] (tanh range).
    """

    def __init__(self, channels: int, n_res_blocks: int, norm: str) -> None:
        super().__init__()
        c = channels
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(1, c, 7), _norm(norm, c), nn.ReLU(True)]  # (B, c, 28, 28)
        layers += [nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), _norm(norm, 2 * c), nn.ReLU(True),            # (B, 2c, 14, 14)
                   nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), _norm(norm, 4 * c), nn.ReLU(True)]        # (B, 4c, 7, 7)
        layers += [ResnetBlock(4 * c, norm) for _ in range(n_res_blocks)]
        layers += [nn.ConvTranspose2d(4 * c, 2 * c, 3, stride=2, padding=1, output_padding=1),               # (B, 2c, 14, 14)
                   _norm(norm, 2 * c), nn.ReLU(True),
                   nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1),                   # (B, c, 28, 28)
                   _norm(norm, c), nn.ReLU(True),
                   nn.ReflectionPad2d(3), nn.Conv2d(c, 1, 7), nn.Tanh()]                                     # (B, 1, 28, 28)
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return (self.net(2.0 * x - 1.0) + 1.0) * 0.5


class PatchDiscriminator(nn.Module):
    """PatchGAN (Isola et al. 2017; Zhu et al. 7.2): C64-C128-C256 shrunk to two stride-2 layers for 28x28.

    (B, 1, 28, 28) -> 4x4 s2 (14) -> 4x4 s2 (7) -> 4x4 s1 (6) -> 4x4 s1 (5): a (B, 1, 5, 5) map of raw scores,
    each judging one overlapping 22x22 patch. No norm on the first layer, leaky ReLU 0.2.
    """

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, stride=2, padding=1), nn.LeakyReLU(0.2, True),                            # (B, c, 14, 14)
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1), _norm(norm, 2 * c), nn.LeakyReLU(0.2, True),    # (B, 2c, 7, 7)
            nn.Conv2d(2 * c, 4 * c, 4, stride=1, padding=1), _norm(norm, 4 * c), nn.LeakyReLU(0.2, True),  # (B, 4c, 6, 6)
            nn.Conv2d(4 * c, 1, 4, stride=1, padding=1))                                                 # (B, 1, 5, 5)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(2.0 * x - 1.0)


def _init_weights(module: nn.Module) -> None:
    """N(0, 0.02) conv weights, zero biases (Zhu et al.'s ``init_type='normal'``)."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class CycleGAN(HubModule):
    """G = ``g_ab`` (A -> B), F = ``g_ba`` (B -> A), D_Y = ``d_b``, D_X = ``d_a``; images (B, 1, 28, 28) in [0, 1]."""

    config_class = CycleGANConfig

    def __init__(self, config: CycleGANConfig) -> None:
        super().__init__()
        if config.norm not in ("instance", "batch"):
            raise ValueError(f"norm must be 'instance' or 'batch', got {config.norm!r}")
        if config.channels < 1 or config.d_channels < 1 or config.n_res_blocks < 0:
            raise ValueError("channels and d_channels must be >= 1 and n_res_blocks >= 0")
        self.config = config
        self.g_ab = ResnetGenerator(config.channels, config.n_res_blocks, config.norm)
        self.g_ba = ResnetGenerator(config.channels, config.n_res_blocks, config.norm)
        self.d_a = PatchDiscriminator(config.d_channels, config.norm)
        self.d_b = PatchDiscriminator(config.d_channels, config.norm)
        self.apply(_init_weights)

    @property
    def generators(self) -> nn.ModuleList:
        """G and F, the parameters of the generator optimizer."""
        return nn.ModuleList([self.g_ab, self.g_ba])

    @property
    def discriminators(self) -> nn.ModuleList:
        """D_X and D_Y, the parameters of the discriminator optimizer."""
        return nn.ModuleList([self.d_a, self.d_b])

    def generator(self, direction: Direction) -> nn.Module:
        """G for ``"a2b"``, F for ``"b2a"``."""
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
        return self.g_ab if direction == "a2b" else self.g_ba

    @torch.no_grad()
    def translate(self, x: Tensor, direction: Direction = "a2b") -> Tensor:
        """Translate images (B, 1, 28, 28) in [0, 1] to the other domain, in eval mode."""
        _check_images(x)
        return self.generator(direction).eval()(x.float())

    @torch.no_grad()
    def round_trip(self, x: Tensor, direction: Direction = "a2b") -> tuple[Tensor, Tensor]:
        """``(G(x), F(G(x)))`` for ``"a2b"`` or ``(F(y), G(F(y)))`` for ``"b2a"``."""
        other: Direction = "b2a" if direction == "a2b" else "a2b"
        y = self.translate(x, direction)
        return y, self.translate(y, other)

    def forward(self, batch: Any, step: int = 0) -> dict[str, Tensor]:
        """The generators' objective on an (x_a, x_b) batch (for inspection; training uses :class:`CycleGANTask`)."""
        return generator_terms(self, batch[0], batch[1])[0]


@dataclass
class CycleGAN2DConfig:
    """The toy CycleGAN of the tab: translate between two 2-D point clouds (mixtures of gen_core.data.toy2d)."""

    model_type: str = "cyclegan2d"
    hidden: int = 64                   # MLP width of G, F, D_X, D_Y: enough for maps between two 8-9 mode mixtures
    depth: int = 2                     # hidden layers
    lambda_cycle: float = 10.0         # lambda, Zhu et al.; the tab's slider sets it (0 = no cycle consistency)
    lambda_identity: float = 0.0       # off: the two clouds overlap nowhere, so "leave it alone" means nothing here
    pool_size: int = 0                 # points are cheap and plentiful; the pool matters for slow image generators
    data_scale: float = 2.0            # points are divided by this inside the networks (clouds span about +-2)


class CycleGAN2D(HubModule):
    """G, F: R^2 -> R^2 (residual MLPs ``x + mlp(x)``) and MLP discriminators D_X, D_Y; same attribute names as
    :class:`CycleGAN`, so :class:`CycleGANTask` trains it unchanged."""

    config_class = CycleGAN2DConfig

    def __init__(self, config: CycleGAN2DConfig) -> None:
        super().__init__()
        from gen_core.nn import mlp

        self.config = config
        h, d = config.hidden, config.depth
        self.g_ab, self.g_ba = mlp(2, h, 2, d, nn.SiLU), mlp(2, h, 2, d, nn.SiLU)
        self.d_a, self.d_b = mlp(2, h, 1, d, nn.SiLU), mlp(2, h, 1, d, nn.SiLU)
        self._wrap()

    def _wrap(self) -> None:
        s = self.config.data_scale
        g_ab, g_ba, d_a, d_b = self.g_ab, self.g_ba, self.d_a, self.d_b
        self.g_ab, self.g_ba = _Residual2D(g_ab, s), _Residual2D(g_ba, s)
        self.d_a, self.d_b = _Scaled2D(d_a, s), _Scaled2D(d_b, s)

    @property
    def generators(self) -> nn.ModuleList:
        """G and F."""
        return nn.ModuleList([self.g_ab, self.g_ba])

    @property
    def discriminators(self) -> nn.ModuleList:
        """D_X and D_Y."""
        return nn.ModuleList([self.d_a, self.d_b])

    @torch.no_grad()
    def translate(self, x: Tensor, direction: Direction = "a2b") -> Tensor:
        """Map points (N, 2) to the other cloud."""
        if direction not in ("a2b", "b2a"):
            raise ValueError(f"direction must be 'a2b' or 'b2a', got {direction!r}")
        return (self.g_ab if direction == "a2b" else self.g_ba)(x.float())

    def forward(self, batch: Any, step: int = 0) -> dict[str, Tensor]:
        """The generators' objective on an (x_a, x_b) batch."""
        return generator_terms(self, batch[0], batch[1])[0]  # type: ignore[arg-type]


class _Residual2D(nn.Module):
    """``x + s * mlp(x / s)``: starts near the identity map, so both runs of the lambda comparison start alike."""

    def __init__(self, net: nn.Module, scale: float) -> None:
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x: Tensor) -> Tensor:
        return x + self.scale * self.net(x / self.scale)


class _Scaled2D(nn.Module):
    """``mlp(x / s)``: a discriminator on points scaled to about [-1, 1]."""

    def __init__(self, net: nn.Module, scale: float) -> None:
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x / self.scale)


def _check_images(x: Tensor) -> None:
    if x.ndim != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise ValueError(f"images must have shape (B, 1, 28, 28) with values in [0, 1], got {tuple(x.shape)}")


def generator_terms(model: CycleGAN, real_a: Tensor, real_b: Tensor) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Every term of the generators' objective; returns (terms incl. ``loss``, fake_a = F(y), fake_b = G(x))."""
    c = model.config
    fake_b = model.g_ab(real_a)                       # G(x)
    fake_a = model.g_ba(real_b)                       # F(y)
    cyc_a = cycle_consistency_loss(real_a, model.g_ba(fake_b))   # ||F(G(x)) - x||_1
    cyc_b = cycle_consistency_loss(real_b, model.g_ab(fake_a))   # ||G(F(y)) - y||_1
    if c.lambda_identity > 0:
        idt_a = identity_loss(real_a, model.g_ba(real_a))         # ||F(x) - x||_1
        idt_b = identity_loss(real_b, model.g_ab(real_b))         # ||G(y) - y||_1
    else:
        idt_a = idt_b = real_a.new_zeros(())
    d_b_fake, d_a_fake = model.d_b(fake_b), model.d_a(fake_a)
    loss = cyclegan_generator_objective(d_b_fake, d_a_fake, cyc_a, cyc_b, idt_a, idt_b,
                                        c.lambda_cycle, c.lambda_identity)
    terms = {"loss": loss, "g_gan_b": lsgan_g_loss(d_b_fake).detach(), "g_gan_a": lsgan_g_loss(d_a_fake).detach(),
             "cycle_a": cyc_a.detach(), "cycle_b": cyc_b.detach(), "identity_a": idt_a.detach(),
             "identity_b": idt_b.detach()}
    return terms, fake_a, fake_b


# ----------------------------------------------------------------------------------------------------------------
# The training task of the shared loop


@dataclass
class CycleGANOptim:
    """Optimisation settings (Zhu et al.): Adam 2e-4, beta1 0.5; rate constant, then linear to 0 from decay_start."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: float = 0.5           # fraction of the steps at constant rate (Zhu et al.: 100 + 100 epochs)

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if not 0.0 <= self.decay_start <= 1.0:
            raise ValueError(f"decay_start must be in [0, 1], got {self.decay_start}")


class CycleGANTask:
    """One CycleGAN step: a generator update (G and F together), then a discriminator update (D_X and D_Y together)
    on the real images and fakes drawn from the two image pools. Batches are ``(x_a, x_b)`` from two independent
    samplers (``gen_core.data.domains.UnpairedBatches``)."""

    def __init__(self, model: HubModule, config: TrainConfig, device: torch.device, dist_info: DistInfo,
                 optim: CycleGANOptim) -> None:
        if dist_info.world_size > 1:
            raise ValueError("CycleGAN training runs in a single process (no DistributedDataParallel)")
        if not isinstance(model, (CycleGAN, CycleGAN2D)):
            raise ValueError(f"CycleGANTask trains a CycleGAN or CycleGAN2D, got {type(model).__name__}")
        self.model, self.config, self.optim = model, config, optim
        self.device = device
        self.g_params = [p for p in model.generators.parameters() if p.requires_grad]
        self.d_params = [p for p in model.discriminators.parameters() if p.requires_grad]
        betas = (optim.beta1, optim.beta2)
        self.opt_g = torch.optim.Adam(self.g_params, lr=optim.lr, betas=betas)
        self.opt_d = torch.optim.Adam(self.d_params, lr=optim.lr, betas=betas)
        self.pool_a = ImagePool(model.config.pool_size, seed=config.seed + 31)
        self.pool_b = ImagePool(model.config.pool_size, seed=config.seed + 37)

    def step(self, batch: Any, step: int) -> dict[str, Tensor]:
        """Generator update, then discriminator update; returns detached metrics."""
        real_a, real_b = batch
        scale = linear_decay_factor(step, self.config.steps, self.optim.decay_start)
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] = self.optim.lr * scale
        terms, fake_a, fake_b = generator_terms(self.model, real_a, real_b)   # type: ignore[arg-type]
        g_norm = apply_gradients(terms["loss"], self.g_params, self.opt_g, None, self.config.grad_clip,
                                 only_params=True)
        m: CycleGAN = self.model  # type: ignore[assignment]
        pooled_b = self.pool_b.query(fake_b)
        pooled_a = self.pool_a.query(fake_a)
        d_b_loss = lsgan_d_loss(m.d_b(real_b), m.d_b(pooled_b))
        d_a_loss = lsgan_d_loss(m.d_a(real_a), m.d_a(pooled_a))
        d_norm = apply_gradients(d_a_loss + d_b_loss, self.d_params, self.opt_d, None, self.config.grad_clip)
        out = {k: v.detach() for k, v in terms.items() if k != "loss"}
        out.update({"g_loss": terms["loss"].detach(), "d_loss_a": d_a_loss.detach(), "d_loss_b": d_b_loss.detach(),
                    "g_grad_norm": g_norm.detach(), "d_grad_norm": d_norm.detach(),
                    "lr": torch.tensor(self.optim.lr * scale)})
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}

    def get_state(self) -> dict[str, Tensor]:
        """Both image pools (saved in checkpoints by the shared loop for an exact resume)."""
        state = {f"pool_a.{k}": v for k, v in self.pool_a.get_state().items()}
        state.update({f"pool_b.{k}": v for k, v in self.pool_b.get_state().items()})
        return state

    def set_state(self, state: dict[str, Tensor]) -> None:
        """Restore :meth:`get_state`."""
        for name, pool in (("pool_a", self.pool_a), ("pool_b", self.pool_b)):
            pool.set_state({k[len(name) + 1:]: v for k, v in state.items() if k.startswith(name + ".")}, self.device)


def cyclegan_task(optim: CycleGANOptim) -> Callable[[HubModule, TrainConfig, torch.device, DistInfo], CycleGANTask]:
    """A ``task_factory`` for :func:`gen_core.train.loop.train`."""

    def factory(model: HubModule, config: TrainConfig, device: torch.device, dist_info: DistInfo) -> CycleGANTask:
        return CycleGANTask(model, config, device, dist_info, optim)

    return factory
