"""`support-agent doctor`: check every configured part and say what is wrong in one line."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from settings import ConfigError, Settings, load_settings

PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up the status of a customer's order by its order id.",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string", "description": "e.g. KC-10042"}},
            "required": ["order_id"],
        },
    },
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float
    # Works, but not as the owner probably wants (say, nothing generated is ever sent).
    warning: bool = False


class Caution(Exception):
    """Raised by a check whose part works but needs the owner's attention."""


def _data_dir(settings: Settings) -> str:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    probe = settings.data_dir / ".doctor-write-test"
    probe.write_text("ok")
    probe.unlink()
    return f"{settings.data_dir.resolve()} is writable"


def _database(settings: Settings) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_engine(settings.db_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("select 1"))
    finally:
        engine.dispose()
    return make_url(settings.db_url).render_as_string(hide_password=True)


def _chroma(settings: Settings) -> str:
    from kb.index import KnowledgeBase
    from kb.store import chroma_client

    client = chroma_client(settings)
    client.heartbeat()
    # Each collection holds the configured model's vectors, or this says what to run.
    KnowledgeBase(settings, client).check()
    where = settings.chroma_url or f"embedded at {settings.data_dir / 'chroma'}"
    return f"{where}, {len(client.list_collections())} collections"


def _embeddings(settings: Settings) -> str:
    from kb.embeddings import Embedder, crosslingual_embedder

    found = f"{settings.embedding_model}, {Embedder(settings.embedding_model).dimension()} dims"
    if across := crosslingual_embedder(settings):
        found += f"; across languages {across.model}, {across.dimension()} dims"
    return found


def _llm_text(settings: Settings) -> str:
    from llm.client import completion

    response = completion(
        model=settings.llm_model,
        messages=[{"role": "user", "content": "Reply with the single word: ready"}],
        max_tokens=8,
        timeout=settings.llm_timeout,
    )
    return f"{settings.llm_model} replied {response.choices[0].message.content!r}"


def _llm_tool_call(settings: Settings) -> str:
    from llm.client import completion

    response = completion(
        model=settings.llm_model,
        messages=[{"role": "user", "content": "Where is my order KC-10042?"}],
        tools=[PROBE_TOOL],
        max_tokens=64,
        timeout=settings.llm_timeout,
    )
    calls = response.choices[0].message.tool_calls or []
    if not calls:
        raise RuntimeError(f"{settings.llm_model} answered without calling the offered tool")
    return f"called {calls[0].function.name}({calls[0].function.arguments})"


def _calibration(settings: Settings) -> str:
    """Whether generated drafts can be sent unreviewed, and on which threshold."""
    from pydantic import ValidationError

    from agent.calibration import GateCalibration, calibration_file, load_calibration

    model = settings.llm_model
    own = calibration_file(settings.data_dir, model)
    if own.is_file():
        try:
            GateCalibration.model_validate_json(own.read_text())
        except (ValidationError, OSError) as error:
            raise Caution(
                f"{own} is unreadable ({_one_line(error)}); run calibrate again"
            ) from None
    calibration = load_calibration(settings.data_dir, model)
    fixed = settings.auto_send_threshold
    if calibration is None:
        if fixed is not None:
            return f"{model} is not calibrated; SUPPORT_AUTO_SEND_THRESHOLD={fixed} is used instead"
        raise Caution(
            f"{model} is not calibrated: every generated draft waits for review until "
            "`support-agent calibrate` has run"
        )
    where = "data dir" if own.is_file() else "packaged"
    fitted = f"fitted {calibration.fitted_at[:10]} on {calibration.cases} drafts, {where}"
    if fixed is not None:
        return f"{model} calibrated ({fitted}); SUPPORT_AUTO_SEND_THRESHOLD={fixed} overrides it"
    if calibration.threshold is None:
        raise Caution(
            f"{model}'s calibration reached no threshold with precision "
            f"{calibration.target_precision:.2f} ({fitted}): every generated draft waits for review"
        )
    return (
        f"{model} sends drafts with probability ≥ {calibration.threshold:.2f} of being right "
        f"(target precision {calibration.target_precision:.2f}; {fitted})"
    )


def _jobs(settings: Settings) -> str:
    """The job queue that drafts turns answers: Redis when configured, else SQLite."""
    if settings.redis_url:
        from urllib.parse import urlsplit

        import redis

        redis.Redis.from_url(settings.redis_url, socket_timeout=5).ping()
        where = urlsplit(settings.redis_url)
        return f"Redis at {where.hostname}:{where.port or 6379} answers"
    from huey import SqliteHuey

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / "jobs.db"
    waiting = SqliteHuey(settings.job_queue, filename=str(path)).pending_count()
    return f"SQLite queue at {path}, {waiting} jobs waiting"


def _orders(settings: Settings) -> str:
    """The configured order connector answers one real request; else the snapshot's size."""
    from connectors import connector_for

    connector = connector_for(settings)
    if connector is not None:
        return f"{connector.name} answered a lookup in {connector.check()} ms"
    from sqlalchemy import func, select

    from store.db import session_factory
    from store.models import Order

    with session_factory(settings.db_url)() as session:
        count = session.scalar(select(func.count(Order.id)))
    return f"the imported snapshot: {count} orders (no live connector configured)"


def _mail(settings: Settings) -> str:
    """The SMTP server takes our login and the IMAP mailbox opens, when they are configured."""
    from mail.servers import Mailbox, check_smtp

    said = []
    if settings.smtp_url is not None:
        said.append(
            "SMTP: "
            + check_smtp(settings.smtp_url.get_secret_value(), ca_file=settings.mail_tls_ca_file)
        )
    if settings.imap_url is not None:
        with Mailbox(
            settings.imap_url.get_secret_value(), ca_file=settings.mail_tls_ca_file
        ) as box:
            said.append(f"IMAP: {box.name} opens")
    return "; ".join(said) or "email is not configured (SUPPORT_SMTP_URL, SUPPORT_IMAP_URL)"


CHECKS: list[tuple[str, Callable[[Settings], str]]] = [
    ("data_dir", _data_dir),
    ("database", _database),
    ("jobs", _jobs),
    ("chroma", _chroma),
    ("embeddings", _embeddings),
    ("llm", _llm_text),
    ("llm_tool_call", _llm_tool_call),
    ("calibration", _calibration),
    ("orders", _orders),
    ("mail", _mail),
]


def _one_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def run_checks() -> list[Check]:
    started = time.perf_counter()
    try:
        settings = load_settings()
    except ConfigError as error:
        return [Check("settings", False, str(error), time.perf_counter() - started)]
    elapsed = time.perf_counter() - started
    checks = [Check("settings", True, "all SUPPORT_* settings valid", elapsed)]
    return checks + [run_check(name, check, settings) for name, check in CHECKS]


def run_check(name: str, check: Callable[[Settings], str], settings: Settings) -> Check:
    started = time.perf_counter()
    try:
        return Check(name, True, check(settings), time.perf_counter() - started)
    except Caution as caution:
        return Check(name, True, str(caution), time.perf_counter() - started, warning=True)
    except Exception as error:
        return Check(name, False, _one_line(error), time.perf_counter() - started)


def render(checks: list[Check], as_json: bool) -> str:
    if as_json:
        return json.dumps({"checks": [asdict(check) for check in checks]}, indent=2)
    return "\n".join(
        f"{_status(check)} {check.name:<14} {check.detail} ({check.seconds:.1f}s)"
        for check in checks
    )


def _status(check: Check) -> str:
    if not check.ok:
        return "FAIL"
    return "warn" if check.warning else "ok  "
