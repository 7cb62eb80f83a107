"""Model families, one file each, and :func:`load_pretrained`, which reads any gen_core weights folder or repo."""

from __future__ import annotations

from pathlib import Path

import torch

from gen_core.hub import HubModule, WeightsError, read_config, resolve
from gen_core.models.avb import AVB, AVBConfig
from gen_core.models.bigan import BiGAN, BiGANConfig
from gen_core.models.classifier import ClassifierConfig, FMNISTClassifier
from gen_core.models.cvae import CVAE, CVAEConfig
from gen_core.models.cyclegan import CycleGAN, CycleGAN2D, CycleGAN2DConfig, CycleGANConfig
from gen_core.models.discrete import DVAE, VQVAE, DVAEConfig, VQVAEConfig
from gen_core.models.flow_prior import FlowPriorVAE, FlowPriorVAEConfig
from gen_core.models.flows import Flow, FlowConfig
from gen_core.models.gan import DCGAN, GAN2D, DCGANConfig, GAN2DConfig
from gen_core.models.vae import VAE, Autoencoder, AutoencoderConfig, VAEConfig

MODEL_CLASSES: dict[str, type[HubModule]] = {"vae": VAE, "autoencoder": Autoencoder, "flow": Flow,
                                             "gan2d": GAN2D, "dcgan": DCGAN, "fmnist_classifier": FMNISTClassifier,
                                             "cyclegan": CycleGAN, "cyclegan2d": CycleGAN2D, "bigan2d": BiGAN,
                                             "flow_prior_vae": FlowPriorVAE,
                                             "cvae": CVAE, "vqvae": VQVAE, "dvae": DVAE, "avb": AVB}


def register(cls: type[HubModule]) -> type[HubModule]:
    """Register a model class under its config's ``model_type`` so :func:`load_pretrained` can find it."""
    MODEL_CLASSES[cls.config_class.model_type] = cls
    return cls


def load_pretrained(name_or_path: str | Path, *, device: str | torch.device = "cpu",
                    local_files_only: bool = False) -> HubModule:
    """Load any gen_core model from a folder or Hub repo id, choosing the class from ``config.json``'s model_type.

    >>> vae = load_pretrained("pretrained/vae-fmnist-16")  # doctest: +SKIP
    """
    folder = resolve(name_or_path, local_files_only=local_files_only)
    model_type = read_config(folder)["model_type"]
    if model_type not in MODEL_CLASSES:
        raise WeightsError(f"{folder}/config.json has model_type {model_type!r}; gen_core knows {sorted(MODEL_CLASSES)}.")
    return MODEL_CLASSES[model_type].from_pretrained(folder, device=device)


__all__ = ["AVB", "AVBConfig", "BiGAN", "BiGANConfig", "CVAE", "CVAEConfig", "CycleGAN", "CycleGANConfig", "CycleGAN2D", "CycleGAN2DConfig",
           "VQVAE", "VQVAEConfig", "DVAE",
           "DVAEConfig", "FlowPriorVAE", "FlowPriorVAEConfig", "Flow", "FlowConfig", "GAN2D", "GAN2DConfig", "DCGAN",
           "DCGANConfig", "FMNISTClassifier", "ClassifierConfig", "VAE", "VAEConfig", "Autoencoder",
           "AutoencoderConfig", "MODEL_CLASSES", "register", "load_pretrained"]
