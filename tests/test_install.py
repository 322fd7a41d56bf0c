"""A plain `pip install .` works on its own: code and package data come from the install.

The project is built from a clean copy of the checkout (no build/ leftovers, nothing
written into the working tree) into a `--target` folder, then run from an unrelated
working directory with only that folder on PYTHONPATH. PYTHONPATH entries come before
site-packages, and the venv's editable finder is asked only after every path entry, so
the install wins; but a module the install lacks would still be served from the
checkout, so the tests check where modules and files came from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import MODELS_DIR, ROOT, TEST_LLM

pytestmark = pytest.mark.model

# What a clean checkout holds that the build does not need, or that would leak
# build leftovers (a stale build/lib is copied into the wheel as it is).
NOT_SOURCE = (
    ".git",
    ".venv",
    ".cache",
    "build",
    "dist",
    "var",
    "__pycache__",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    "test-artifacts",
    ".env",
)

# The files the knowledge base was built from, as the installed program records them.
INDEXED_SOURCES = """
import json
from kb.index import KnowledgeBase
from settings import load_settings
documents = KnowledgeBase(load_settings()).indexed_documents().values()
print(json.dumps(sorted({document.source for document in documents})))
"""

# Imports the project, then reads every kind of package data the program uses.
CHECK_INSTALL = r"""
import importlib, json, sys

names = [
    "cli", "settings", "doctor", "server", "agent", "agent.prompts", "llm", "kb",
    "ingestion", "desk.sample_shop", "evals", "evals.datasets", "evals.baseline",
    "store", "store.db", "store.migrations", "web", "prompts", "sample_shop",
]
modules = {name: importlib.import_module(name) for name in names}

from agent.calibration import PACKAGED
from agent.prompts import PROMPTS_DIR, _environment
from evals.baseline import BASELINE, load_baseline
from evals.datasets import DATASETS, load_suite
from desk.sample_shop import FOLDER
from store.db import MIGRATIONS

app = modules["server"].create_app()
client = app.test_client()
print(json.dumps({
    "modules": {name: module.__file__ for name, module in modules.items()},
    "from_checkout": sorted(
        name for name, module in sys.modules.items()
        if (getattr(module, "__file__", None) or "").startswith(sys.argv[1])
        and not module.__file__.startswith(sys.prefix)  # the venv may live in the checkout
    ),
    "resources": {
        "prompts": str(PROMPTS_DIR),
        "calibrations": str(PACKAGED),
        "sample_shop": str(FOLDER),
        "migrations": str(MIGRATIONS),
        "datasets": str(DATASETS),
        "baseline": str(BASELINE),
        "templates": app.jinja_loader.searchpath[0],
        "static": app.static_folder,
    },
    "prompt_files": sorted(_environment().list_templates(extensions=["j2"])),
    "smoke_cases": len(load_suite("smoke")),
    "calibrations": sorted(path.name for path in PACKAGED.glob("*.json")),
    "baseline_suites": sorted(load_baseline()),
    "pages": {path: client.get(path).status_code for path in ("/", "/static/widget.js")},
}))
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The project installed (not editable) into a folder of its own, built from a clean copy."""
    source = tmp_path_factory.mktemp("source") / "support-agent"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    target = tmp_path_factory.mktemp("install") / "site"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            ".",
        ],
        cwd=source,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return target


def run_installed(site: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `python ARGS` as a user of the install would: another folder, a fresh data dir."""
    workdir = Path.cwd()  # the test's own temporary folder, not the checkout
    assert not workdir.is_relative_to(ROOT)
    env = {
        **os.environ,
        "PYTHONPATH": str(site),
        "SUPPORT_DATA_DIR": str(workdir / "data"),
        "SUPPORT_MODELS_DIR": str(MODELS_DIR),
        "SUPPORT_LLM_MODEL": TEST_LLM,
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_the_install_holds_every_module_and_file_the_program_reads(site):
    result = run_installed(site, "-c", CHECK_INSTALL, f"{ROOT}{os.sep}")
    assert result.returncode == 0, result.stdout + result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    for name, path in {**found["modules"], **found["resources"]}.items():
        assert Path(path).is_relative_to(site), f"{name} comes from {path}, not the install"
    assert found["from_checkout"] == []
    assert found["prompt_files"] == sorted(p.name for p in (ROOT / "prompts").glob("*.j2"))
    assert found["smoke_cases"] > 0
    assert found["calibrations"] == sorted(
        p.name for p in (ROOT / "agent" / "calibrations").glob("*.json")
    )
    assert found["calibrations"], "the packaged local models come calibrated"
    assert found["baseline_suites"]
    assert found["pages"] == {"/": 200, "/static/widget.js": 200}


def test_the_install_holds_every_file_of_the_checkouts_packages(site):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    packages = [pattern.rstrip("*") for pattern in setuptools["packages"]["find"]["include"]]
    expected = {f"{name}.py" for name in setuptools["py-modules"]}
    for package in packages:
        folder = ROOT / package
        if folder.is_dir():
            expected |= {
                path.relative_to(ROOT).as_posix()
                for path in folder.rglob("*")
                if path.is_file() and "__pycache__" not in path.parts
            }
    assert {"prompts/system.j2", "sample_shop/faqs.jsonl", "web/templates/base.html"} <= expected
    missing = sorted(name for name in expected if not (site / name).is_file())
    assert missing == []


def test_doctor_passes_when_run_from_the_install(site):
    result = run_installed(site, "-m", "cli", "doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)["checks"]
    assert all(check["ok"] for check in checks), checks


def test_demo_loads_the_sample_shop_shipped_in_the_install(site):
    result = run_installed(site, "-m", "cli", "demo", "--no-serve")
    assert result.returncode == 0, result.stdout + result.stderr
    added = re.search(r"^knowledge base: added (\d+), ", result.stdout, re.MULTILINE)
    assert added, result.stdout
    assert int(added.group(1)) > 0
    assert re.search(r"; [1-9]\d* customers, [1-9]\d* orders$", result.stdout, re.MULTILINE)
    indexed = run_installed(site, "-c", INDEXED_SOURCES)
    assert indexed.returncode == 0, indexed.stderr
    sources = json.loads(indexed.stdout.strip().splitlines()[-1])
    assert sources and all(Path(source).is_relative_to(site / "sample_shop") for source in sources)
