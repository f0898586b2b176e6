"""docs/cells.md has a section for every registered cell, with every option and its default."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from seqpipe.cells import CELLS

DOC = Path(__file__).resolve().parents[3] / "docs" / "cells.md"


def sections() -> dict[str, str]:
    parts = re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)[1:]
    return {part.split("\n", 1)[0].strip(): part for part in parts}


def shown(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.parametrize("name", CELLS.names())
def test_every_cell_has_a_section_with_its_equations_options_and_cudnn_status(name):
    section = sections().get(f"`{name}`")
    assert section is not None, f"docs/cells.md has no section '## `{name}`'"
    assert "**cuDNN:**" in section and " = " in section  # its cuDNN status and its equations
    fields = CELLS.get(name).Options.model_fields
    if not fields:
        assert "no options" in section
    for option, field in fields.items():
        assert f"| `{option}` | `{shown(field.default)}` |" in section, f"{name}: option {option} or its default"


def test_the_cells_module_links_the_page():
    import seqpipe.cells

    assert "docs/cells.md" in seqpipe.cells.__doc__
