"""Launched by test_train.py under torchrun: trains a tiny VAE with the shared loop on 2 gloo ranks."""

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from safetensors.torch import save_file

from gen_core.data.fashion_mnist import load_fashion_mnist
from gen_core.models import VAE, VAEConfig
from gen_core.train import TrainConfig, train

out = Path(sys.argv[1])
torch.manual_seed(1234)  # DDP broadcasts rank 0's initial weights; a shared seed is not required
model = VAE(VAEConfig(latent_dim=2, channels=8, hidden=32))
events = list(train(model, load_fashion_mnist("test").images[:512], TrainConfig(steps=12, batch_size=16, log_every=4, device="cpu")))
rank = dist.get_rank()
assert events[-1].kind == "done", events[-1]
state = {k: v.contiguous() for k, v in model.state_dict().items()}
save_file(state, str(out / f"rank{rank}.safetensors"))
if rank == 0:
    torch.manual_seed(1234)
    save_file(VAE(VAEConfig(latent_dim=2, channels=8, hidden=32)).state_dict(), str(out / "init.safetensors"))
    (out / "world_size.txt").write_text(str(dist.get_world_size()))
dist.destroy_process_group()
