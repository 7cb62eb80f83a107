"""gen_core: the classic deep generative models, their trainers and metrics, in PyTorch.

Source material: the lecture notes in ``shared/seeds`` (VAEs, beta-VAE, IWAE, VQ-VAE, flows, GANs, f-GAN,
WGAN, WGAN-GP, spectral norm, BiGAN, AVB, CycleGAN); ``MODELS.md`` settles their formulas.
"""

__version__ = "0.1.0"
