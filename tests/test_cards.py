"""Model cards: the metrics table says what each number is, with a model family's own sentences."""

from __future__ import annotations

from gen_core import cards


def _row(table: str, key: str) -> list[str]:
    line = next(line for line in table.splitlines() if line.startswith(f"| `{key}` |"))
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_metrics_table_uses_the_shared_and_the_family_notes():
    table = cards.metrics_table({"elbo": -81.6, "cycle_l1_b": 0.045, "unknown": 1.0},
                                notes={"cycle_l1_b": "mean |G(F(y)) - y| per pixel"})
    assert _row(table, "elbo") == ["`elbo`", "-81.6", cards.METRIC_NOTES["elbo"]]
    # a family's note fills its own metric, with its '|' escaped so that the row keeps its three cells
    assert "| `cycle_l1_b` | 0.045 | mean \\|G(F(y)) - y\\| per pixel |" in table.splitlines()
    assert _row(table, "unknown")[1] == "1"


def test_training_card_puts_family_notes_in_the_table():
    body = cards.training_card("t", "s", "python -m gen_core train x", {"a": 1}, {"batch_size": 8, "lr": 2e-4,
                               "seed": 0}, steps=10, wall_time_s=60.0, device="cpu", metrics={"fid_b": 4.65},
                               eval_note="held out", use_snippet="x = 1", metric_notes={"fid_b": "FID of G(test A)"})
    assert "| `fid_b` | 4.65 | FID of G(test A) |" in body
    assert "- Wall time: 1.0 min on cpu" in body


def _run(folder, seed: int, beta: float = 4.0, mig: float = 0.1, preset: str = "fast") -> None:
    from gen_core.hub import write_model_card
    folder.mkdir()
    command = f"python -m gen_core train vae --beta {beta:g} --steps 50 --seed {seed} --out runs/x{seed}"
    write_model_card(folder, "# a run\n\n## Training\n\ntext", {
        "gen_core_training": {"command": command},
        "gen_core_metrics": {"mig": mig, "factor_vae": 0.5 + mig, "preset": preset}})


def test_command_but_seed_drops_the_seed_and_the_output_folder():
    assert cards.command_but_seed("python -m gen_core train vae --seed 3 --out a --beta 4") == \
        (["python", "-m", "gen_core", "train", "vae", "--beta", "4"], 3)
    assert cards.command_but_seed("train vae --seed=2 --out=b") == (["train", "vae"], 2)
    assert cards.command_but_seed("train vae --beta 4")[1] is None


def test_seed_runs_land_in_the_card_and_other_commands_are_refused(tmp_path):
    import pytest

    from gen_core.hub import read_card_metadata
    _run(tmp_path / "main", 0, mig=0.3)
    _run(tmp_path / "s1", 1, mig=0.1)
    _run(tmp_path / "s2", 2, mig=0.2)
    runs = cards.record_seed_runs(tmp_path / "main", [tmp_path / "s2", tmp_path / "s1"])
    assert [(r["seed"], r["metrics"]["mig"]) for r in runs] == [(1, 0.1), (2, 0.2)]
    meta = read_card_metadata(tmp_path / "main")
    assert meta["gen_core_seed_runs"] == runs and meta["gen_core_metrics"]["mig"] == 0.3
    text = (tmp_path / "main" / "README.md").read_text()
    assert "| 0 (this model) | 0.8 | 0.3 |" in text and "| median | 0.7 | 0.2 |" in text  # factor_vae, mig columns
    cards.record_seed_runs(tmp_path / "main", [tmp_path / "s1"])         # again: the section is replaced, not added
    text = (tmp_path / "main" / "README.md").read_text()
    assert text.count(cards.SEEDS_HEADING) == 1 and "| 2 |" not in text and "## Training" in text
    _run(tmp_path / "b8", 3, beta=8.0)
    with pytest.raises(ValueError, match="not trained by the same command"):
        cards.seed_runs(tmp_path / "main", [tmp_path / "b8"])
    with pytest.raises(ValueError, match="seed 0 is already listed"):
        cards.seed_runs(tmp_path / "s1", [tmp_path / "main", tmp_path / "main"])
    _run(tmp_path / "full", 4, preset="disentanglement_lib")
    with pytest.raises(ValueError, match="same sample counts"):
        cards.seed_runs(tmp_path / "main", [tmp_path / "full"])


def test_seeds_command_records_or_says_why_not(tmp_path, capsys):
    from gen_core.cli import main
    _run(tmp_path / "main", 0)
    _run(tmp_path / "s1", 1, mig=0.2)
    _run(tmp_path / "b8", 2, beta=8.0)
    assert main(["seeds", str(tmp_path / "main"), str(tmp_path / "s1")]) == 0
    assert "recorded seeds 1" in capsys.readouterr().out
    assert main(["seeds", str(tmp_path / "main"), str(tmp_path / "b8")]) == 2
    assert "not trained by the same command" in capsys.readouterr().err
    assert main(["seeds", str(tmp_path / "main"), str(tmp_path / "missing")]) == 2
    assert "no model card with a training command" in capsys.readouterr().err


def test_card_metrics_reads_the_metadata_or_the_printed_table(tmp_path):
    from gen_core.hub import write_model_card
    write_model_card(tmp_path / "meta", "# m\n\n| `elbo` | -1 | x |\n", {"gen_core_metrics": {"elbo": -233.706315}})
    assert cards.card_metrics(tmp_path / "meta") == {"elbo": -233.706315}          # metadata wins
    (tmp_path / "table").mkdir()
    (tmp_path / "table" / "README.md").write_text("---\nlibrary_name: gen_core\n---\n\n# m\n\n"
                                                  + cards.metrics_table({"elbo": -233.706315, "kl": 16.918578}))
    assert cards.card_metrics(tmp_path / "table") == {"elbo": "-233.7", "kl": "16.92"}
    assert cards.card_metrics(tmp_path / "nothing") == {}


def test_check_against_card_allows_float_rounding_only():
    card = {"elbo": -253.17988, "gap": 0.029365, "shown": "-233.7", "preset": "fast", "per_dim": [1.0, 2.0]}
    checks = {c.key: c.ok for c in cards.check_against_card(
        {"elbo": -253.18044, "gap": 0.0293654, "shown": -233.706, "preset": "fast", "per_dim": [1.0, 2.0],
         "extra": 1.0, "translate_ms": 9.0}, {**card, "translate_ms": 2.7})}
    # 2e-6 relative, the sixth decimal, the same four digits: matches; a timing is not compared at all
    assert checks == {"elbo": True, "gap": True, "shown": True}
    checks = {c.key: c.ok for c in cards.check_against_card({"elbo": -253.2, "gap": 0.0294, "shown": -233.6}, card)}
    assert checks == {"elbo": False, "gap": False, "shown": False}


def test_eval_check_reproduces_a_shipped_card_or_says_what_differs(tmp_path, capsys):
    import shutil
    from pathlib import Path

    from gen_core.cli import main
    from gen_core.hub import read_card_metadata, update_model_card
    shipped = Path(__file__).resolve().parents[1] / "pretrained" / "gan-ring-lsgan-256"
    assert main(["eval", str(shipped), "--check"]) == 0
    assert "all 9 card metrics reproduced" in capsys.readouterr().err
    edited = tmp_path / "edited"
    shutil.copytree(shipped, edited)
    meta = read_card_metadata(edited)
    meta["gen_core_metrics"]["high_quality_pct"] += 0.5            # a card that claims more than its weights do
    update_model_card(edited, meta, "# edited\n")
    assert main(["eval", str(edited), "--check"]) == 1
    err = capsys.readouterr().err
    assert "differs: high_quality_pct" in err and "1 of 9 card metrics differ" in err
    (tmp_path / "bare").mkdir()
    assert main(["eval", str(tmp_path / "bare"), "--check"]) == 2
    assert "states no metrics to check against" in capsys.readouterr().err
