"""Weights in the layout of a Hugging Face model repo: ``config.json`` + ``model.safetensors`` + ``README.md``.

Saving goes through ``huggingface_hub.PyTorchModelHubMixin`` (which also gives ``push_to_hub``). Loading is our
own and strict: it reads a local folder or a Hub repo id (offline from a populated cache when
``HF_HUB_OFFLINE=1``), accepts safetensors only (never a pickle, unlike the mixin's ``pytorch_model.bin``
fallback), and turns a missing or mismatched file into an error that says what is wrong.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch
import yaml
from huggingface_hub import ModelCard, ModelCardData, PyTorchModelHubMixin, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
REPO_FILES = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]

T = TypeVar("T", bound="HubModule")


class WeightsError(RuntimeError):
    """A weights folder or repo is missing a file or does not match the model it claims to hold."""


def resolve(name_or_path: str | Path, *, revision: str | None = None, cache_dir: str | Path | None = None,
            local_files_only: bool = False) -> Path:
    """Return a local folder holding the repo files: the folder itself, or a Hub snapshot (from cache if offline)."""
    path = Path(name_or_path)
    if path.is_dir():
        return path
    text = str(name_or_path)
    if path.exists() or text.startswith((".", "/", "~")) or text.count("/") != 1:
        raise WeightsError(
            f"{text!r} is neither a folder nor a Hub repo id of the form 'owner/name'. Pass a folder that holds "
            f"{CONFIG_NAME} and {WEIGHTS_NAME}, e.g. 'pretrained/vae-fmnist-16'."
        )
    try:
        return Path(snapshot_download(repo_id=text, revision=revision, cache_dir=cache_dir,
                                      allow_patterns=REPO_FILES, local_files_only=local_files_only))
    except LocalEntryNotFoundError as err:
        raise WeightsError(
            f"Repo {text!r} is not in the Hugging Face cache and the Hub cannot be reached (offline). Download it "
            f"once with network access, or pass a local folder. ({err.__class__.__name__})"
        ) from err
    except HfHubHTTPError as err:
        raise WeightsError(f"Could not fetch repo {text!r} from the Hub: {err}") from err


def read_config(folder: Path) -> dict[str, Any]:
    """Read and check ``config.json`` of a weights folder."""
    config_path = folder / CONFIG_NAME
    if not config_path.is_file():
        raise WeightsError(f"{folder} has no {CONFIG_NAME}; a gen_core weights folder holds {', '.join(REPO_FILES)}.")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise WeightsError(f"{config_path} is not valid JSON ({err}).") from err
    if not isinstance(config, dict) or "model_type" not in config:
        raise WeightsError(f"{config_path} has no 'model_type' field, so gen_core cannot tell which model it is.")
    return config


def config_from_dict(config_cls: type, data: dict[str, Any]) -> Any:
    """Build a config dataclass from a dict, rejecting unknown keys (a sign of a mismatched folder)."""
    names = {f.name for f in fields(config_cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise WeightsError(f"config.json has fields {unknown} that {config_cls.__name__} does not know; "
                           f"the folder was written by a different model or version.")
    if data.get("model_type", config_cls.model_type) != config_cls.model_type:
        raise WeightsError(f"config.json says model_type={data['model_type']!r}, expected {config_cls.model_type!r}.")
    return config_cls(**data)


def load_state_into(model: nn.Module, weights_path: Path, device: str | torch.device = "cpu") -> None:
    """Load safetensors weights into ``model``, requiring exactly the same names and shapes."""
    if not weights_path.is_file():
        raise WeightsError(f"{weights_path.parent} has no {WEIGHTS_NAME}; gen_core only loads safetensors weights.")
    try:
        state = load_file(str(weights_path), device=str(device))
    except (SafetensorError, OSError) as err:
        raise WeightsError(f"{weights_path} is not a readable safetensors file ({err}).") from err
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shape_bad = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
                 for k in sorted(set(state) & set(expected)) if state[k].shape != expected[k].shape]
    if missing or unexpected or shape_bad:
        parts = []
        if missing:
            parts.append(f"missing tensors {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected tensors {unexpected[:5]}")
        if shape_bad:
            parts.append(f"shape mismatches {shape_bad[:5]}")
        raise WeightsError(f"{weights_path} does not match config.json: {'; '.join(parts)}.")
    model.load_state_dict(state, strict=True)


def init_weights_from(model: "HubModule", folder: str | Path, *, what: str = "model", hint: str = "") -> int:
    """Load a trained folder's weights (safetensors) into ``model`` to continue training it; returns the steps its
    card records (``total_steps`` of a run that was itself continued, else ``steps``; 0 when the card has none).

    Every config field but those the config class lists in ``TRAINING_ONLY`` (a VAE's beta, say) must equal
    ``model``'s, else a ``ValueError`` names the fields that differ and ``hint`` says what to pass instead.
    """
    folder = Path(folder)
    config = read_config(folder)
    ours = model.config_dict
    may_differ = getattr(getattr(model, "config", None), "TRAINING_ONLY", ())
    different = sorted(k for k in ours if k in config and k not in may_differ and config[k] != ours[k])
    if config.get("model_type") != ours.get("model_type") or different:
        raise ValueError(f"--init-from {folder}: not a {what} of this run's shape (differs in "
                         f"{different or ['model_type']}){'; ' + hint if hint else ''}")
    load_state_into(model, folder / WEIGHTS_NAME, device="cpu")
    return recorded_steps(folder)


def init_training_differences(model: "HubModule", folder: str | Path) -> dict[str, Any]:
    """The training-only config fields (``TRAINING_ONLY``: a VAE's beta, objective, ...) whose value in ``folder``'s
    config differs from ``model``'s, with the folder's values: what a run started by ``--init-from`` changed. Where
    the config class says which fields a loss uses (``settings_in_use``), fields that neither run used are left out
    (two beta-VAEs trained for different step counts differ in the unused AnnealedVAE ``capacity_steps``)."""
    config = read_config(Path(folder))
    ours = model.config_dict
    model_config = getattr(model, "config", None)
    may_differ = getattr(model_config, "TRAINING_ONLY", ())
    in_use = getattr(model_config, "settings_in_use", None)   # a field neither run's loss used is no difference
    if in_use is not None:
        may_differ = [k for k in may_differ if k in in_use(config) | in_use(ours)]
    return {k: config[k] for k in may_differ if k in config and k in ours and config[k] != ours[k]}


def recorded_steps(folder: str | Path) -> int:
    """The training steps a folder's card records: ``total_steps`` of a continued run, else ``steps``, else 0."""
    training = read_card_metadata(folder).get("gen_core_training", {})
    return int(training.get("total_steps", training.get("steps", 0)))


class HubModule(nn.Module, PyTorchModelHubMixin, library_name="gen_core", license="apache-2.0",
                tags=["gen_core", "generative-model"]):
    """Base class of every gen_core model: built from one config dataclass, saved and loaded in Hub layout.

    Subclasses set ``config_class`` and take ``config`` as their only constructor argument.
    """

    config_class: type
    step_noise: torch.Generator | None = None   # set by the training loop during each step of a private_noise run;
                                                 # models whose steps draw noise (VAE, AVB) draw it from here

    def save_pretrained(self, save_directory: str | Path, *, card: str | None = None,  # type: ignore[override]
                        card_data: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Write config.json, model.safetensors and a model card (``card`` is its Markdown body)."""
        save_directory = Path(save_directory)
        super().save_pretrained(save_directory, **kwargs)
        write_model_card(save_directory, card or f"# {type(self).__name__}\n\nTrained with gen_core.\n",
                         card_data or {})

    @classmethod
    def from_pretrained(cls: type[T], name_or_path: str | Path, *, device: str | torch.device = "cpu",  # type: ignore[override]
                        revision: str | None = None, cache_dir: str | Path | None = None,
                        local_files_only: bool = False) -> T:
        """Load a model from a folder or Hub repo id; raises :class:`WeightsError` on any mismatch."""
        folder = resolve(name_or_path, revision=revision, cache_dir=cache_dir, local_files_only=local_files_only)
        config = config_from_dict(cls.config_class, read_config(folder))
        model = cls(config)
        load_state_into(model, folder / WEIGHTS_NAME, device="cpu")
        return model.to(device).eval()

    @property
    def config_dict(self) -> dict[str, Any]:
        """The model's config as a plain dict (what config.json holds)."""
        cfg = getattr(self, "config")
        return asdict(cfg) if is_dataclass(cfg) else dict(cfg)


def write_model_card(folder: Path, body: str, card_data: dict[str, Any]) -> None:
    """Write ``README.md``: Hub metadata front matter (library, license, tags, datasets, metrics) and the body."""
    data = ModelCardData(library_name="gen_core", license="apache-2.0",
                         tags=["gen_core", "generative-model", "pytorch"], **card_data)
    ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body.strip()}\n").save(folder / CARD_NAME)


def split_model_card(card: Path) -> tuple[str, str]:
    """A model card file's metadata block (the YAML between the ``---`` lines; ``""`` when it has none) and its
    Markdown body."""
    text = card.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return "", text
    end = text.find("\n---", 3)
    if end < 0:
        raise WeightsError(f"{card}: the metadata block that starts with '---' never ends; close it with a '---' line")
    return text[3:end], text[end + 4:].lstrip("\n")


def update_model_card(folder: str | Path, metadata: dict[str, Any], body: str) -> None:
    """Rewrite a folder's ``README.md`` with ``metadata`` (all of it, as read by :func:`read_card_metadata` and
    changed) as front matter and ``body``."""
    ModelCard(f"---\n{ModelCardData(**metadata).to_yaml()}\n---\n\n{body.strip()}\n").save(Path(folder) / CARD_NAME)


def read_card_metadata(folder: str | Path) -> dict[str, Any]:
    """The metadata front matter of a folder's model card as a dict (``{}`` when there is no card).

    The CLI stores held-out metrics under ``gen_core_metrics`` and the run under ``gen_core_training``, so the
    dashboard shows them without recomputing.
    """
    card = Path(folder) / CARD_NAME
    if not card.is_file():
        return {}
    front, _ = split_model_card(card)
    # libyaml's safe loader when present: ModelCard.load's pure-Python parse takes ~25 ms per card, and the
    # dashboard reads ~40 cards at start-up.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        data = yaml.load(front, Loader=loader)  # noqa: S506 - a safe loader: plain data only, no objects
    except yaml.YAMLError as exc:
        raise WeightsError(f"{card}: the metadata block is not valid YAML ({exc}); fix or regenerate the card") from exc
    return data if isinstance(data, dict) else {}


def export_zip(model: HubModule, name: str, card: str, card_data: dict[str, Any] | None = None,
               root: str | Path | None = None) -> Path:
    """Pack ``model`` as a Hub-format folder ``name/`` (config.json, model.safetensors, README.md with ``card`` as
    its body) into ``name.zip`` in a fresh folder under ``root`` (default: the system's temporary folder), and
    return the zip's path. Unzipped, the folder loads with ``load_pretrained``. ``name`` may hold letters, digits,
    ``.``, ``_`` and ``-`` only: it becomes a file name."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", name):
        raise ValueError(f"export name {name!r}: use 1-100 letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    out = Path(tempfile.mkdtemp(prefix="gen_core-export-", dir=root))
    model.save_pretrained(out / name, card=card, card_data=card_data)
    archive = shutil.make_archive(str(out / name), "zip", root_dir=out, base_dir=name)
    shutil.rmtree(out / name)
    return Path(archive)
