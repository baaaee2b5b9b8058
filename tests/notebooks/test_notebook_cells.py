"""The notebooks' generated cells (badge, setup) are current, and the setup cell keeps Colab's packages."""
from pathlib import Path

import pytest

from course_admin import notebooks

ROOT = Path(__file__).resolve().parents[2]


def test_shared_cells_are_current():
    paths = notebooks.notebook_paths()
    if not paths:
        pytest.skip("no notebooks yet")
    stale = [p.name for p in paths if notebooks.sync_notebook(p, write=False)]
    assert not stale, f"run `python -m course_admin.notebooks sync`: stale {stale}"


def test_readme_lists_every_notebook_with_its_badge():
    assert not notebooks.sync_readme(write=False), "run `python -m course_admin.notebooks sync`: README table is stale"
    table = notebooks.readme_table()
    for p in notebooks.notebook_paths():
        assert p.stem in table and notebooks.colab_url(p.relative_to(ROOT).as_posix()) in table


def test_setup_cell_never_reinstalls_colab_packages():
    src = notebooks.setup_source()
    assert "--no-deps" in src and "ipywidgets>=8" not in src and notebooks.REPO_URL in src
    assert notebooks.colab_url("notebooks/01_patches.ipynb").startswith("https://colab.research.google.com/github/")
