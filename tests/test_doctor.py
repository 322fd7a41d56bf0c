"""`support-agent doctor`: every part checked, a broken one named in one line."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from doctor import run_checks
from tests.conftest import run_cli

pytestmark = pytest.mark.model

EXPECTED_CHECKS = [
    "settings",
    "data_dir",
    "database",
    "jobs",
    "chroma",
    "embeddings",
    "llm",
    "llm_tool_call",
    "calibration",
    "orders",
    "mail",
]


def test_doctor_passes_on_the_local_setup_and_prints_json():
    result = run_cli("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = json.loads(result.stdout)["checks"]
    assert [check["name"] for check in checks] == EXPECTED_CHECKS
    assert all(check["ok"] for check in checks)
    by_name = {check["name"]: check for check in checks}
    assert "384 dims" in by_name["embeddings"]["detail"]
    assert "across languages local/use-multilingual-v3, 512 dims" in by_name["embeddings"]["detail"]
    assert "lookup_order" in by_name["llm_tool_call"]["detail"]
    assert "SQLite queue" in by_name["jobs"]["detail"]
    assert "the imported snapshot" in by_name["orders"]["detail"]
    assert "email is not configured" in by_name["mail"]["detail"]
    assert all(check["seconds"] >= 0 for check in checks)


def test_an_unreachable_redis_fails_the_jobs_check_in_one_line(monkeypatch):
    monkeypatch.setenv("SUPPORT_REDIS_URL", "redis://127.0.0.1:9/0")
    from doctor import CHECKS, run_check
    from settings import load_settings

    load_settings.cache_clear()
    check = run_check("jobs", dict(CHECKS)["jobs"], load_settings())
    assert not check.ok
    assert "127.0.0.1:9" in check.detail and "\n" not in check.detail


class _RejectingProvider(BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint that rejects every key, as a real one does."""

    def do_POST(self):
        body = json.dumps(
            {
                "error": {
                    "message": "Incorrect API key provided.",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                }
            }
        ).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def rejecting_provider():
    server = HTTPServer(("127.0.0.1", 0), _RejectingProvider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()


def test_a_wrong_api_key_shows_as_one_clear_line(monkeypatch, rejecting_provider):
    monkeypatch.setenv("SUPPORT_LLM_MODEL", "openai/gpt-4o-mini")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-key-do-not-log")
    monkeypatch.setenv("OPENAI_BASE_URL", rejecting_provider)
    monkeypatch.setenv("OPENAI_API_BASE", rejecting_provider)
    checks = {check.name: check for check in run_checks()}
    llm = checks["llm"]
    assert not llm.ok
    assert llm.detail == (
        "openai/gpt-4o-mini: the provider rejected the API key (check its *_API_KEY variable)"
    )
    assert "sk-wrong-key" not in llm.detail
    assert checks["database"].ok and checks["chroma"].ok


def test_a_wrong_model_name_shows_as_one_clear_line(monkeypatch):
    monkeypatch.setenv("SUPPORT_LLM_MODEL", "local/qwen-99b")
    result = run_cli("doctor")
    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 2
    assert all("unknown local model 'qwen-99b'" in line for line in failed)


def test_invalid_settings_fail_first_and_alone(monkeypatch):
    monkeypatch.setenv("SUPPORT_AUTO_SEND_THRESHOLD", "5")
    result = run_cli("doctor", "--json")
    assert result.returncode == 1
    (check,) = json.loads(result.stdout)["checks"]
    assert check["name"] == "settings" and not check["ok"]
    assert check["detail"].startswith("SUPPORT_AUTO_SEND_THRESHOLD:")


def test_the_mail_check_logs_in_to_smtp_and_opens_the_imap_mailbox(tmp_path, monkeypatch):
    from doctor import CHECKS, run_check
    from settings import load_settings
    from tests.mail_servers import imap_server, smtp_server

    with smtp_server() as smtp, imap_server() as imap:
        monkeypatch.setenv("SUPPORT_SMTP_URL", smtp.url)
        monkeypatch.setenv("SUPPORT_IMAP_URL", imap.url)
        load_settings.cache_clear()
        check = run_check("mail", dict(CHECKS)["mail"], load_settings())
    assert check.ok, check.detail
    assert f"127.0.0.1:{smtp.port} accepts us" in check.detail
    assert "/INBOX opens" in check.detail and "imap-secret-password" not in check.detail


def test_a_wrong_imap_password_fails_the_mail_check_without_showing_it(tmp_path, monkeypatch):
    from doctor import CHECKS, run_check
    from settings import load_settings
    from tests.mail_servers import imap_server

    with imap_server() as imap:
        wrong = imap.url.replace("imap-secret-password", "guessed-password")
        monkeypatch.setenv("SUPPORT_IMAP_URL", wrong)
        load_settings.cache_clear()
        check = run_check("mail", dict(CHECKS)["mail"], load_settings())
    assert not check.ok
    assert "guessed-password" not in check.detail and "\n" not in check.detail
