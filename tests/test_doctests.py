"""Every example in gen_core's docstrings runs and prints what it says (STYLE.md 8: examples are doctests).
Examples that need a trained model or a long run carry ``# doctest: +SKIP`` in the source."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import gen_core


def _modules_with_examples() -> list[str]:
    names = []
    for info in pkgutil.walk_packages(gen_core.__path__, prefix="gen_core."):
        spec = importlib.util.find_spec(info.name)
        origin = spec.origin if spec is not None else None
        if origin and origin.endswith(".py") and ">>>" in Path(origin).read_text(encoding="utf-8"):
            names.append(info.name)
    return sorted(names)


MODULES = _modules_with_examples()


def test_the_examples_were_found():
    assert {"gen_core.metrics.disentanglement", "gen_core.models.flows", "gen_core.data.dsprites"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed (run it with -s)"
