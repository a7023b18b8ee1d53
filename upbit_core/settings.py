"""The one settings object of the platform, read from the environment and `.env`.

Every process builds one `Settings` at start-up (`get_settings()`) and passes it down; no module reads
`os.environ` on its own. Variable names are the environment names in upper case (the seed's names such as
`KAFKA_SERVERS` and `TIMESCALEDB_DBNAME` keep working). Secrets are `SecretStr`, so they never appear in
logs or reprs; `Settings.redacted()` is what diagnostics print.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from upbit_core.severity import Severity

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Placeholder secrets from .env.example; refused outside development (full-stack-fastapi-template's rule).
PLACEHOLDER_SECRETS = frozenset({"changethis", "change-me", "changeme", "secret", "password"})

# A current fast, inexpensive Claude model. Override with ANTHROPIC_MODEL.
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"


class Settings(BaseSettings):
    """All configuration. Field name == environment variable name (case-insensitive)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
        case_sensitive=False,
    )

    environment: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    # Where supervised processes (demo, services) keep pid files, logs and local broker state.
    run_dir: Path = PROJECT_ROOT / ".run"

    # --- Kafka ---------------------------------------------------------------------------------
    kafka_servers: str = "127.0.0.1:9092"
    kafka_topic: str = "upbit_ticker"
    kafka_group_id: str = "upbit-ticker-writer"
    kafka_dead_letter_topic: str = "upbit_ticker_dead"
    # Rebalance timeout for the consumer group (kafka-python uses max_poll_interval_ms for joins).
    kafka_max_poll_interval_ms: int = Field(default=10_000, ge=1_000, le=600_000)

    # --- Database (TimescaleDB or plain PostgreSQL) ---------------------------------------------
    timescaledb_dbname: str = "coin"
    timescaledb_user: str = "postgres"
    timescaledb_password: SecretStr = SecretStr("")
    timescaledb_host: str = "127.0.0.1"
    timescaledb_port: int = 5432
    # auto: use TimescaleDB when `CREATE EXTENSION timescaledb` succeeds; on: require it; off: plain PostgreSQL.
    timescaledb_mode: Literal["auto", "on", "off"] = "auto"
    # Raw ticks older than this (by arrival, not event time) are dropped by retention.
    ticker_retention_days: int = Field(default=30, ge=1)
    # Read-only role every reader uses (db.readonly; created by the migrations).
    readonly_user: str = "upbit_reader"
    readonly_password: SecretStr = SecretStr("")
    readonly_statement_timeout_ms: int = Field(default=2_000, ge=100)
    # Development only: when the read-only role is unusable, let readers (db.readonly: MCP, dashboard, CLI listings,
    # demo status) read as the writer role in a read-only session. Ignored outside ENVIRONMENT=development;
    # readers otherwise fail with the fix.
    readonly_fallback_to_writer: bool = False
    # Housekeeping (a daily Celery task) deletes rows older than these from the operational logs.
    dead_letter_retention_days: int = Field(default=30, ge=1)
    alert_delivery_retention_days: int = Field(default=90, ge=1)
    ingest_gap_retention_days: int = Field(default=365, ge=1)
    llm_call_retention_days: int = Field(default=90, ge=1)  # the cost ledger `upbit-llm costs` reads

    # --- Redis / Celery / Flower ----------------------------------------------------------------
    # Redis URLs may carry a password (redis://:secret@host): kept out of repr, masked by `redacted()`.
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", repr=False)
    celery_result_url: str = Field(default="", repr=False)  # empty → same as redis_url
    summary_interval_seconds: int = Field(default=300, ge=5)
    # Scan every second and peek at the unfinished bucket up to 1 s behind the newest event time: the path from a
    # decision to the Slack receiver is ~1–2 s (demo, docs/anomaly-alerts.md). A live scan over 160 markets costs
    # ~0.1–0.2 s (bench anomaly), so ~10–20 % of a core. A bucket is scanned once the newest event time is
    # `anomaly_lateness_seconds` past its end (other partitions' stragglers); fills later than that are still
    # evaluated: the scan goes back for them.
    anomaly_scan_interval_seconds: int = Field(default=1, ge=1)
    anomaly_lateness_seconds: int = Field(default=1, ge=0, le=60)
    # How far behind the watermark a scan looks for fills that arrived after it passed (0 = never go back).
    anomaly_late_rescan_seconds: int = Field(default=300, ge=0, le=1800)
    # Opt-in "rush" rule: a one-sided crowd moving the price >= 3 % in 10–30 s is medium before the 5 % move. Off:
    # on the held-out real tapes it added false medium+ alerts (docs/anomaly-alerts.md).
    anomaly_rush_rule: bool = False
    # Early (medium+) decisions inside a 10-s bucket every this many seconds of event time (a divisor of 10; 0 =
    # decide at bucket ends only). Deterministic: the points are fixed in event time (anomaly.detector).
    anomaly_early_step_seconds: int = Field(default=2, ge=0, le=5)
    aggregate_refresh_interval_seconds: int = Field(default=60, ge=5)
    catalog_refresh_interval_seconds: int = Field(default=86_400, ge=60)
    flower_host: str = "127.0.0.1"
    flower_port: int = 5555
    flower_user: str = "admin"
    flower_password: SecretStr = SecretStr("")

    # --- Upbit ----------------------------------------------------------------------------------
    upbit_ws_url: str = "wss://api.upbit.com/websocket/v1"
    upbit_rest_url: str = "https://api.upbit.com"
    # Quote currencies to subscribe: "KRW", "KRW,BTC", or "all".
    upbit_quotes: str = "KRW"
    # Explicit market codes (comma separated) override UPBIT_QUOTES when set.
    upbit_codes: str = ""
    upbit_watchdog_seconds: float = Field(default=30.0, gt=0)
    upbit_ping_seconds: float = Field(default=20.0, gt=0)
    # REST minute candles (backfill, gap healing). Upbit allows 10 candle requests/s per IP; stay a little under.
    upbit_rest_requests_per_second: float = Field(default=8.0, gt=0, le=10)
    # First start of ingest (no backfill ever ran on this database): fetch this many hours of 1-minute candles
    # for every followed market, so 1 h / 24 h figures and anomaly baselines exist from minute one. 0 = off.
    backfill_on_start_hours: float = Field(default=24.0, ge=0, le=24 * 7)
    # How far back Upbit serves 1-minute candles for healing: a gap older than this is recorded not_healable.
    upbit_rest_history_days: float = Field(default=180.0, gt=0)
    gap_heal_interval_seconds: int = Field(default=120, ge=10)
    # Largest WebSocket frame ingest accepts. A real ticker message is ~1 KB (the list formats a few KB); larger
    # frames are read through without being held, and dead-lettered with their first 64 KiB, length and hash.
    upbit_max_frame_bytes: int = Field(default=1_048_576, ge=4_096, le=64 * 1_048_576)
    # Touched by `upbit-llm ingest` / `consume` every status tick (compose healthchecks read its age); empty = off.
    heartbeat_file: str = ""
    # Dead letters the consumer writes for one Kafka record's bad lines; the rest become one summary letter
    # (a 300 KB record of newlines is one record, not 300,000 rows).
    consumer_max_dead_letters_per_record: int = Field(default=100, ge=1, le=100_000)

    # --- Claude -------------------------------------------------------------------------------------
    anthropic_api_key: SecretStr = SecretStr("")
    anthropic_model: str = DEFAULT_ANTHROPIC_MODEL
    # Empty → the SDK's own default (which honours ANTHROPIC_BASE_URL).
    anthropic_base_url: str = ""
    anthropic_timeout_seconds: float = Field(default=60.0, gt=0)
    anthropic_max_retries: int = Field(default=3, ge=0, le=10)
    llm_max_output_tokens: int = Field(default=700, ge=16, le=8192)
    llm_max_context_tokens: int = Field(default=1_500, ge=100)
    # `ask` with Claude tool use: every request's input (system + tool definitions + messages) stays within this.
    llm_ask_max_input_tokens: int = Field(default=4_000, ge=500)
    report_language: Literal["ko", "en"] = "ko"

    # --- Alerts ---------------------------------------------------------------------------------
    slack_webhook_url: SecretStr = SecretStr("")
    slack_min_severity: Severity = "medium"
    # A webhook URL often embeds its own credential (a path token): out of repr, masked by `redacted()`.
    alert_webhook_url: str = Field(default="", repr=False)
    alert_webhook_secret: SecretStr = SecretStr("")
    webhook_min_severity: Severity = "low"
    # Comma separated market codes whose alerts are muted on every channel.
    alert_mutes: str = ""
    alert_cooldown_seconds: int = Field(default=600, ge=0)
    # Replayed or backfilled history is stored and listed but not pushed: a version whose event time is older than
    # this (wall clock at delivery) is skipped on every channel. 0 = deliver regardless of age.
    alert_max_age_seconds: int = Field(default=600, ge=0)
    # Delivery retries (timeouts, 5xx, 429): attempts per event and channel, exponential backoff from base to max.
    alert_max_attempts: int = Field(default=5, ge=1, le=20)
    alert_backoff_seconds: float = Field(default=1.0, ge=0)
    alert_backoff_max_seconds: float = Field(default=30.0, ge=0)
    alert_timeout_seconds: float = Field(default=10.0, gt=0)

    # --- MCP and dashboard ------------------------------------------------------------------------
    mcp_host: str = "127.0.0.1"
    mcp_port: int = 8765
    mcp_token: SecretStr = SecretStr("")
    # Tool results carry the data as structuredContent (with a slim outputSchema) next to the compact text. Claude
    # Code and VS Code hand a model JSON of structuredContent instead of the text when it is present: false sends the
    # compact text alone, which keeps those clients within the token budgets (docs/analytics-mcp.md).
    mcp_structured_content: bool = True
    # Host names (comma separated) the HTTP surfaces answer besides the loopback names and a specific bind
    # address: requests with another Host or Origin are refused (DNS rebinding). "*" allows any (not advised).
    mcp_allowed_hosts: str = ""
    web_allowed_hosts: str = ""
    # Coin Q&A per client address: this many questions a minute, bursts up to WEB_ASK_BURST (each may cost a
    # Claude call).
    web_ask_per_minute: float = Field(default=6.0, gt=0)
    web_ask_burst: int = Field(default=3, ge=1)
    web_host: str = "127.0.0.1"
    web_port: int = 8000
    web_token: SecretStr = SecretStr("")
    # How often the dashboard re-reads the analytics layer for its live feed (server-sent events).
    web_refresh_seconds: float = Field(default=2.0, ge=0.2, le=300)
    # The dashboard's Q&A waits this long for the Celery `ask` task (queue llm) before answering 504.
    web_ask_timeout_seconds: float = Field(default=90.0, gt=0)

    @field_validator("anomaly_early_step_seconds")
    @classmethod
    def _step_divides_the_bucket(cls, value: int) -> int:
        if value and 10 % value:
            raise ValueError("ANOMALY_EARLY_STEP_SECONDS must divide the 10-s bucket: 0 (off), 1, 2 or 5")
        return value

    @field_validator("upbit_quotes")
    @classmethod
    def _normalise_quotes(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == "all":
            return "all"
        quotes = [q.strip().upper() for q in value.split(",") if q.strip()]
        if not quotes:
            raise ValueError("UPBIT_QUOTES must name at least one quote currency (e.g. KRW) or be 'all'")
        return ",".join(quotes)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment == "development" or self.environment == "test":
            return self
        for name in ("timescaledb_password", "flower_password", "mcp_token", "alert_webhook_secret"):
            secret: SecretStr = getattr(self, name)
            if secret.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{name.upper()} still holds a placeholder value; set a real secret")
        if self.alert_webhook_url and not self.alert_webhook_secret.get_secret_value():
            # A receiver cannot tell an unsigned alert from a forged one; production never sends them.
            raise ValueError(
                "ALERT_WEBHOOK_URL is set without ALERT_WEBHOOK_SECRET; production sends signed webhooks only"
            )
        return self

    # --- derived values -------------------------------------------------------------------------
    @property
    def quote_currencies(self) -> list[str] | None:
        """Quote currencies to follow, or None for every market."""
        return None if self.upbit_quotes == "all" else self.upbit_quotes.split(",")

    @property
    def explicit_codes(self) -> list[str]:
        return [c.strip().upper() for c in self.upbit_codes.split(",") if c.strip()]

    @property
    def kafka_bootstrap(self) -> list[str]:
        return [s.strip() for s in self.kafka_servers.split(",") if s.strip()]

    @property
    def muted_markets(self) -> frozenset[str]:
        return frozenset(c.strip().upper() for c in self.alert_mutes.split(",") if c.strip())

    @property
    def celery_backend_url(self) -> str:
        return self.celery_result_url or self.redis_url

    @property
    def has_anthropic_key(self) -> bool:
        return bool(self.anthropic_api_key.get_secret_value())

    def database_dsn(self, dbname: str | None = None) -> str:
        """libpq URI for the writer role. Contains the password: never log it (use `redacted()`)."""
        password = self.timescaledb_password.get_secret_value()
        auth = quote(self.timescaledb_user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        name = quote(dbname or self.timescaledb_dbname, safe="")
        return f"postgresql://{auth}@{self.timescaledb_host}:{self.timescaledb_port}/{name}"

    def readonly_dsn(self, dbname: str | None = None) -> str:
        """libpq URI for the read-only role used by MCP and the dashboard."""
        password = self.readonly_password.get_secret_value()
        auth = quote(self.readonly_user, safe="")
        if password:
            auth += ":" + quote(password, safe="")
        name = quote(dbname or self.timescaledb_dbname, safe="")
        return f"postgresql://{auth}@{self.timescaledb_host}:{self.timescaledb_port}/{name}"

    def redacted(self) -> dict[str, object]:
        """Every setting with secrets masked: what `doctor` and logs may show."""
        out: dict[str, object] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                out[name.upper()] = "set (hidden)" if value.get_secret_value() else "not set"
            elif name in ("redis_url", "celery_result_url"):
                out[name.upper()] = mask_url_password(value) if value else "not set"
            elif name == "alert_webhook_url":
                out[name.upper()] = "set (hidden)" if value else "not set"
            else:
                out[name.upper()] = str(value)
        return out


def mask_url_password(url: str) -> str:
    """The URL with its password (if any) replaced by ***: what logs and `doctor` may show of a service URL."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. Tests build their own `Settings(...)` instead."""
    return Settings()
