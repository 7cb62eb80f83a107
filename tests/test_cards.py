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
                               eval_note="held out", usage="x = 1", metric_notes={"fid_b": "FID of G(test A)"})
    assert "| `fid_b` | 4.65 | FID of G(test A) |" in body
    assert "- Wall time: 1.0 min on cpu" in body
