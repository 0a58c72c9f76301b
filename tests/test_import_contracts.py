"""The import contracts in pyproject.toml hold on the tree, and fail when a wrong-way import appears.

The wrong-way imports are written into a temporary copy of the packages, never into the tree.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter is not installed")


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def copy_of_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for name in ("core", "db", "pages"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_every_contract():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "wrong_import", "contract"),
    [
        ("db/teaching.py", "import torch", "Persistence imports neither torch nor the domain"),
        ("db/users.py", "from core.teaching import quiz_rules", "Persistence imports neither torch nor the domain"),
        ("core/explain/markers.py", "import streamlit", "The domain imports neither Streamlit"),
        ("core/reports/render.py", "from db import repository", "The domain imports neither Streamlit"),
        ("core/models/lungs.py", "from core.explain import limits", "Domain rooms"),
        ("core/services/quiz.py", "from pages import common", "Layers: pages"),
        ("pages/case_gallery.py", "from db.operator import OPERATOR", "Pages act as their signed-in user"),
    ],
)
def test_a_wrong_way_import_breaks_its_contract(tmp_path, module, wrong_import, contract):
    root = copy_of_tree(tmp_path)
    path = root / module
    path.write_text(path.read_text() + f"\n{wrong_import}  # deliberately wrong\n")
    result = lint(root)
    assert result.returncode != 0
    report = " ".join(result.stdout.split())  # the tool wraps long contract names
    status = re.search(re.escape(contract) + r"(?:(?!KEPT|BROKEN).)*(KEPT|BROKEN)", report)
    assert status is not None and status.group(1) == "BROKEN", result.stdout
    assert "Contracts: 5 kept, 1 broken." in report
