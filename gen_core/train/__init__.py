"""The shared training loop (:func:`train`) and its events, tasks and checkpoints."""

from gen_core.train.loop import (
    BatchSource, DistInfo, Diverged, Event, LikelihoodTask, SamplerBatches, TensorBatches, TrainConfig,
    apply_gradients, load_training_state, pick_device, save_checkpoint, seed_everything, train,
)

__all__ = [
    "BatchSource", "DistInfo", "Diverged", "Event", "LikelihoodTask", "SamplerBatches", "TensorBatches",
    "TrainConfig", "apply_gradients", "load_training_state", "pick_device", "save_checkpoint", "seed_everything",
    "train",
]
