"""A wrong or missing setting stops the program with one line that names it."""

from __future__ import annotations

import pytest

from settings import ConfigError, load_settings
from tests.conftest import run_cli


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SUPPORT_AUTO_SEND_THRESHOLD", "1.7", "less than or equal to 1"),
        ("SUPPORT_AUTO_SEND_THRESHOLD", "high", "valid number"),
        ("SUPPORT_LOCAL_N_CTX", "lots", "valid integer"),
        ("SUPPORT_LLM_MODEL", "chatbot", "litellm model string"),
        ("SUPPORT_CHROMA_URL", "localhost:8000", "http:// or https://"),
        ("SUPPORT_LOCAL_MODEL_PATH", "/no/such/model.gguf", "no such file"),
        ("SUPPORT_LLM_TIMEOUT", "-5", "greater than 0"),
    ],
)
def test_bad_setting_fails_at_start_with_one_line(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    result = run_cli("config")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {variable}:")
    assert expected in lines[0]


def test_settings_come_from_env_and_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "SUPPORT_AUTO_SEND_THRESHOLD=0.9\nSUPPORT_LLM_FALLBACKS=openai/gpt-4o-mini, ollama/llama3\n"
    )
    monkeypatch.setenv("SUPPORT_CHROMA_URL", "http://chroma.internal:8000")
    settings = load_settings()
    assert settings.auto_send_threshold == 0.9
    assert settings.llm_fallbacks == ["openai/gpt-4o-mini", "ollama/llama3"]
    assert settings.chroma_url == "http://chroma.internal:8000"
    assert settings.db_url == f"sqlite:///{tmp_path / 'data' / 'support.db'}"


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("SUPPORT_AUTO_SEND_THRESHOLD=0.9\n")
    monkeypatch.setenv("SUPPORT_AUTO_SEND_THRESHOLD", "0.6")
    assert load_settings().auto_send_threshold == 0.6


def test_config_error_is_one_line_in_process(monkeypatch):
    monkeypatch.setenv("SUPPORT_AUTO_SEND_THRESHOLD", "2")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "\n" not in str(caught.value)


def test_secret_key_is_hidden_by_config_command(monkeypatch):
    monkeypatch.setenv("SUPPORT_SECRET_KEY", "s3cr3t-value-123")
    result = run_cli("config")
    assert result.returncode == 0
    assert "s3cr3t-value-123" not in result.stdout
    assert "SUPPORT_SECRET_KEY=**********" in result.stdout
