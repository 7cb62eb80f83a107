"""Hub-format weights: exact round trip, offline load from a Hub cache, and clear errors on bad folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gen_core.hub import WeightsError
from gen_core.models import VAE, Autoencoder, AutoencoderConfig, VAEConfig, load_pretrained

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def saved(tmp_path):
    torch.manual_seed(0)
    model = VAE(VAEConfig(latent_dim=3, likelihood="gaussian"))
    with torch.no_grad():
        model.decoder_logvar.fill_(-1.234)
    model.save_pretrained(tmp_path / "m", card="# test card\n")
    return model, tmp_path / "m"


def assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_round_trip_exact(saved):
    model, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    loaded = load_pretrained(folder)
    assert isinstance(loaded, VAE) and loaded.config == model.config
    assert_same(model, loaded)
    assert_same(model, VAE.from_pretrained(folder))
    x = torch.rand(2, 1, 28, 28)
    model.eval()
    assert torch.equal(model.decode(model.encode(x)[0]), loaded.decode(loaded.encode(x)[0]))
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: gen_core" in card and "# test card" in card


def test_round_trip_autoencoder(tmp_path):
    ae = Autoencoder(AutoencoderConfig(latent_dim=5, corruption="masking"))
    ae.save_pretrained(tmp_path)
    assert_same(ae, load_pretrained(tmp_path))


def test_offline_load_from_hub_cache(saved, tmp_path):
    """Build the huggingface_hub cache layout by hand and load by repo id with HF_HUB_OFFLINE=1."""
    model, folder = saved
    cache = tmp_path / "hub-cache"
    commit = "0123456789abcdef0123456789abcdef01234567"
    snap = cache / "models--gen-core--tiny-vae" / "snapshots" / commit
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        (snap / f.name).write_bytes(f.read_bytes())
    (cache / "models--gen-core--tiny-vae" / "refs").mkdir()
    (cache / "models--gen-core--tiny-vae" / "refs" / "main").write_text(commit)
    expected = model.decode(torch.zeros(1, 3)).sum().item()
    code = ("import torch; from gen_core.models import load_pretrained; "
            "m = load_pretrained('gen-core/tiny-vae'); print(repr(m.decode(torch.zeros(1, 3)).sum().item()))")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout.strip().splitlines()[-1]) == pytest.approx(expected, abs=1e-6)
    # An id that is not cached fails offline with a sentence, not a traceback from deep inside the Hub client.
    code_missing = "from gen_core.models import load_pretrained; load_pretrained('gen-core/not-there')"
    out = subprocess.run([sys.executable, "-c", code_missing], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "not in the Hugging Face cache" in out.stderr


def test_missing_files(saved):
    _, folder = saved
    (folder / "model.safetensors").unlink()
    with pytest.raises(WeightsError, match="no model.safetensors"):
        load_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(WeightsError, match="no config.json"):
        load_pretrained(folder)


def test_mismatched_weights(saved, tmp_path):
    _, folder = saved
    other = VAE(VAEConfig(latent_dim=5, likelihood="gaussian"))
    other.save_pretrained(tmp_path / "other")
    (folder / "model.safetensors").write_bytes((tmp_path / "other" / "model.safetensors").read_bytes())
    with pytest.raises(WeightsError, match="shape mismatches"):
        load_pretrained(folder)
    ae = Autoencoder(AutoencoderConfig(latent_dim=3))
    ae.save_pretrained(tmp_path / "ae")
    (folder / "model.safetensors").write_bytes((tmp_path / "ae" / "model.safetensors").read_bytes())
    with pytest.raises(WeightsError, match="missing tensors"):
        load_pretrained(folder)


def test_corrupt_files(saved):
    _, folder = saved
    (folder / "model.safetensors").write_bytes(b"\x00\x01garbage")
    with pytest.raises(WeightsError, match="not a readable safetensors"):
        load_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        load_pretrained(folder)


def test_config_problems(saved):
    _, folder = saved
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "model_type": "diffusion"}))
    with pytest.raises(WeightsError, match="gen_core knows"):
        load_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**cfg, "n_heads": 8}))
    with pytest.raises(WeightsError, match="does not know"):
        load_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({k: v for k, v in cfg.items() if k != "model_type"}))
    with pytest.raises(WeightsError, match="model_type"):
        load_pretrained(folder)


def test_bad_names(tmp_path):
    with pytest.raises(WeightsError, match="neither a folder nor a Hub repo id"):
        load_pretrained(tmp_path / "nope")
    with pytest.raises(WeightsError, match="neither a folder nor a Hub repo id"):
        load_pretrained("a/b/c")


def test_no_pickle_fallback(saved):
    """A folder with only a pickle-format pytorch_model.bin is refused, never unpickled."""
    _, folder = saved
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(WeightsError, match="only loads safetensors"):
        load_pretrained(folder)


def test_init_differences_count_only_the_settings_a_loss_used(tmp_path: Path):
    from gen_core.hub import init_training_differences
    VAE(VAEConfig(latent_dim=2, beta=8.0, capacity_steps=50_000)).save_pretrained(tmp_path / "b8")
    # the capacity is an AnnealedVAE setting: two beta-VAEs that differ in it (and in beta) differ in beta only
    assert init_training_differences(VAE(VAEConfig(latent_dim=2, beta=4.0, capacity_steps=20_000)),
                                     tmp_path / "b8") == {"beta": 8.0}
    annealed = VAE(VAEConfig(latent_dim=2, beta=4.0, objective="annealed_vae", capacity_steps=20_000))
    assert init_training_differences(annealed, tmp_path / "b8") == {"beta": 8.0, "objective": "beta_vae",
                                                                    "capacity_steps": 50_000}
    decayed = VAE(VAEConfig(latent_dim=2, beta=4.0, kl_schedule="decay", beta_start=16.0, beta_decay_steps=10))
    assert init_training_differences(decayed, tmp_path / "b8") == {"beta": 8.0, "kl_schedule": "constant",
                                                                   "beta_start": 1.0, "beta_decay_steps": 0}


def test_export_zip_packs_a_loadable_folder_and_refuses_unsafe_names(saved, tmp_path):
    import zipfile

    from gen_core.hub import export_zip, read_card_metadata
    model, _ = saved
    archive = export_zip(model, "vae-live.1", "# live card\n", {"gen_core_metrics": {"elbo": -1.5}}, root=tmp_path)
    assert archive.name == "vae-live.1.zip" and archive.parent.parent == tmp_path
    assert sorted(p.name for p in archive.parent.iterdir()) == ["vae-live.1.zip"]     # the folder is not left behind
    with zipfile.ZipFile(archive) as z:
        files = sorted(n for n in z.namelist() if not n.endswith("/"))
        assert files == [f"vae-live.1/{f}" for f in ("README.md", "config.json", "model.safetensors")]
        z.extractall(tmp_path / "unzipped")
    folder = tmp_path / "unzipped" / "vae-live.1"
    assert_same(model, load_pretrained(folder))
    assert read_card_metadata(folder)["gen_core_metrics"] == {"elbo": -1.5}
    assert "# live card" in (folder / "README.md").read_text()
    for bad in ("../up", "a/b", "", ".hidden", "x" * 101, "sp ace"):
        with pytest.raises(ValueError, match="export name"):
            export_zip(model, bad, "# c\n", root=tmp_path)
