"""The package layout: every folder with __init__.py is in pyproject's package list."""

from __future__ import annotations

import importlib
import tomllib

from tests.conftest import REPO


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_every_package_folder_is_listed():
    tool = _pyproject()["tool"]["setuptools"]
    listed = set(tool["packages"])
    mapping = tool["package-dir"]
    folders = set()
    for init in REPO.rglob("__init__.py"):
        rel = init.parent.relative_to(REPO)
        if rel.parts[0] in {".venv", "tests", "build", "runs"} or rel.parts[0].startswith("."):
            continue
        folders.add(rel.as_posix())
    # Map each folder back to its dotted package name through package-dir.
    reverse = {folder: pkg for pkg, folder in mapping.items()}
    for folder in sorted(folders):
        top, *rest = folder.split("/")
        assert top in reverse, f"folder {folder} is not mapped in [tool.setuptools.package-dir]"
        dotted = ".".join([reverse[top], *rest])
        assert dotted in listed, f"package {dotted} ({folder}) missing from tool.setuptools.packages"


def test_listed_packages_import():
    for pkg in _pyproject()["tool"]["setuptools"]["packages"]:
        module = importlib.import_module(pkg)
        assert module.__doc__, f"{pkg} has no module docstring"


def test_component_folders_exist():
    for folder in ("trigger_models", "quantization", "hls_export", "gpu_runtime", "emulation",
                   "latency_bench", "triginfer", "tests", "configs"):
        assert (REPO / folder).is_dir(), folder
    assert (REPO / ".ci" / "run").is_file()
    assert "make test" in (REPO / ".ci" / "run").read_text()


def test_readme_kinds_table_is_the_registry():
    from triginfer.firmware.kinds import kinds_table

    readme = (REPO / "README.md").read_text()
    start, end = readme.index("<!-- kinds-table -->"), readme.index("<!-- /kinds-table -->")
    assert readme[start:end].split("\n", 1)[1].strip() == kinds_table().strip()
