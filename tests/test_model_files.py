"""Model files are assembled from their PyPI chunks and refused when the hash is wrong."""

from __future__ import annotations

import shutil

import pytest

from llm.client import LLMError, completion
from llm.model_files import PACKAGED_MODELS, ModelFileError, packaged_model_path, sha256_of
from settings import load_settings
from tests.conftest import MODELS_DIR

SMALL = PACKAGED_MODELS["qwen2.5-0.5b"]


def test_packaged_model_assembles_to_the_published_hash(tmp_path):
    path = packaged_model_path(SMALL.name, tmp_path / "models")
    assert path.stat().st_size > 400_000_000
    assert sha256_of(path) == SMALL.sha256


def test_a_tampered_cached_file_is_rebuilt_and_verified(tmp_path):
    models = tmp_path / "models"
    path = packaged_model_path(SMALL.name, models)
    with path.open("r+b") as handle:
        handle.seek(1000)
        handle.write(b"tampered")
    rebuilt = packaged_model_path(SMALL.name, models)
    assert sha256_of(rebuilt) == SMALL.sha256


def test_a_model_file_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    wrong = tmp_path / "wrong.gguf"
    shutil.copyfile(MODELS_DIR / SMALL.filename, wrong)
    with wrong.open("r+b") as handle:
        handle.seek(-16, 2)
        handle.write(b"\0" * 16)
    monkeypatch.setenv("SUPPORT_LOCAL_MODEL_PATH", str(wrong))
    monkeypatch.setenv("SUPPORT_LOCAL_MODEL_SHA256", SMALL.sha256)
    load_settings.cache_clear()
    with pytest.raises(LLMError) as caught:
        completion(model="local/qwen2.5-0.5b", messages=[{"role": "user", "content": "hi"}])
    message = str(caught.value)
    assert "sha256 mismatch" in message
    assert "refusing to load" in message
    assert str(wrong) in message
    assert "\n" not in message


def test_unknown_local_model_names_the_known_ones():
    with pytest.raises(ModelFileError, match="known models: local/qwen2.5-1.5b"):
        packaged_model_path("qwen-99b", MODELS_DIR)
