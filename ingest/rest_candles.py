"""Upbit REST 1-minute candles: a rate-limited client, and resumable backfill jobs stored in `rest_candles_1m`.

The client follows Upbit's rules (docs: rate-limits): requests paced under UPBIT_REST_REQUESTS_PER_SECOND, the
`Remaining-Req` header's `sec` obeyed (0 → wait for the next second), 429 → exponential backoff, 418 (blocked after
ignoring 429s) → wait out the block, never an `Origin` header. A job pages every market backwards from `until`
with `to` (exclusive) and `count` ≤ 200 down to `since`; each page and the market's cursor are committed together,
so an interrupted job resumes exactly where it stopped and ends with the same rows as an uninterrupted one.
"""

from __future__ import annotations

import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg2.extensions
from psycopg2.extras import execute_values

from ingest.catalog import CatalogError, fetch_catalog, store_catalog
from ingest.ticker import CODE_RE
from upbit_core.settings import Settings

log = logging.getLogger(__name__)

MAX_COUNT = 200  # Upbit's page size limit for candles
MINUTE = timedelta(minutes=1)
_SEC_RE = re.compile(r"\bsec=(\d+)")


class RestError(RuntimeError):
    """Upbit REST could not answer after the retries; the message says what was tried."""


@dataclass(frozen=True)
class RestCandle:
    code: str
    bucket: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    value: float
    last_time: datetime | None

    def row(self) -> tuple[object, ...]:
        return (
            self.code,
            self.bucket,
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            self.value,
            self.last_time,
        )


@dataclass
class ClientStats:
    requests: int = 0  # HTTP requests sent (429/418 included)
    ok: int = 0
    throttled: int = 0  # 429 answers
    blocked: int = 0  # 418 answers
    errors: int = 0  # network errors and 5xx
    rejected: int = 0  # candles in an answer that failed validation (logged, not stored)
    waited_seconds: float = 0.0  # time spent pacing and backing off

    def as_dict(self) -> dict[str, object]:
        return {
            "http_requests": self.requests,
            "ok": self.ok,
            "throttled_429": self.throttled,
            "blocked_418": self.blocked,
            "errors": self.errors,
            "rejected_candles": self.rejected,
            "waited_seconds": round(self.waited_seconds, 2),
        }


def floor_minute(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(second=0, microsecond=0)


def format_to(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_candle(item: Any) -> RestCandle | None:
    """One element of Upbit's candle answer → RestCandle, or None when a field is missing or not sane."""
    if not isinstance(item, dict):
        return None
    try:
        code = item["market"]
        bucket = datetime.fromisoformat(str(item["candle_date_time_utc"])).replace(tzinfo=UTC)
        prices = [float(item[k]) for k in ("opening_price", "high_price", "low_price", "trade_price")]
        volume = float(item["candle_acc_trade_volume"])
        value = float(item["candle_acc_trade_price"])
        ts = item.get("timestamp")
        last = datetime.fromtimestamp(int(ts) / 1000, tz=UTC) if isinstance(ts, int | float) else None
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(code, str) or not CODE_RE.match(code) or bucket.second or bucket.microsecond:
        return None
    o, h, lo, c = prices
    finite = all(x == x and abs(x) != float("inf") for x in (*prices, volume, value))
    if not finite or min(prices) <= 0 or volume < 0 or value < 0 or h < max(o, c, lo) or lo > min(o, c):
        return None
    return RestCandle(code, bucket, o, h, lo, c, volume, value, last)


class RestCandleClient:
    """GET /v1/candles/minutes/1 within Upbit's limits. One instance per process (it keeps the pacing state)."""

    def __init__(
        self,
        base_url: str,
        *,
        requests_per_second: float = 8.0,
        timeout: float = 10.0,
        max_attempts: int = 12,
        max_backoff_seconds: float = 8.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = base_url.rstrip("/") + "/v1/candles/minutes/1"
        self.interval = 1.0 / requests_per_second
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff_seconds
        self.stats = ClientStats()
        self._sleep = sleep
        self._next_at = 0.0
        # No Origin header: Upbit limits requests that carry one to 1 per 10 s.
        self._http = httpx.Client(timeout=timeout, headers={"Accept": "application/json"})

    @classmethod
    def from_settings(cls, settings: Settings) -> RestCandleClient:
        return cls(settings.upbit_rest_url, requests_per_second=settings.upbit_rest_requests_per_second)

    def close(self) -> None:
        self._http.close()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited_seconds += seconds
            self._sleep(seconds)

    def _pace(self) -> None:
        self._wait(self._next_at - time.monotonic())
        self._next_at = max(self._next_at, time.monotonic()) + self.interval

    def fetch(self, code: str, to: datetime, count: int = MAX_COUNT) -> list[RestCandle]:
        """Up to `count` 1-minute candles of `code` strictly before `to`, newest first."""
        params = {"market": code, "to": format_to(to), "count": str(max(1, min(count, MAX_COUNT)))}
        backoff = 0.25
        last = ""
        for _attempt in range(self.max_attempts):
            self._pace()
            self.stats.requests += 1
            try:
                response = self._http.get(self.url, params=params)
            except httpx.HTTPError as exc:
                self.stats.errors += 1
                last = f"{type(exc).__name__}: {exc}"
                self._wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            status = response.status_code
            if status == 200:
                self.stats.ok += 1
                self._obey_remaining(response.headers.get("Remaining-Req", ""))
                return self._parse(code, response.content)
            if status == 429:
                self.stats.throttled += 1
                last = "HTTP 429"
                self._wait(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if status == 418:
                self.stats.blocked += 1
                last = "HTTP 418"
                retry_after = response.headers.get("Retry-After", "")
                block = float(retry_after) if retry_after.replace(".", "", 1).isdigit() else backoff * 4
                self._wait(min(block, 600.0))
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if status >= 500:
                self.stats.errors += 1
                last = f"HTTP {status}"
                self._wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
                continue
            raise RestError(f"{self.url} answered HTTP {status} for {code}: {response.text[:200]}")
        raise RestError(f"{self.url} gave no candles for {code} after {self.max_attempts} attempts ({last})")

    def _obey_remaining(self, header: str) -> None:
        match = _SEC_RE.search(header)
        if match and int(match.group(1)) == 0:
            # Nothing left this second: the next request waits for the next second.
            self._next_at = max(self._next_at, time.monotonic() + 1.0)

    def _parse(self, code: str, body: bytes) -> list[RestCandle]:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RestError(f"candles for {code} are not JSON: {body[:120]!r}") from exc
        if not isinstance(data, list):
            raise RestError(f"candles for {code} are not a JSON list: {body[:120]!r}")
        out = []
        for item in data:
            candle = parse_candle(item)
            if candle is None or candle.code != code:
                self.stats.rejected += 1
                log.warning("REST candle rejected market=%s item=%s", code, str(item)[:200])
                continue
            out.append(candle)
        return out


# --- storage and jobs -----------------------------------------------------------------------------------------


def store_candles(cur: psycopg2.extensions.cursor, candles: Sequence[RestCandle]) -> int:
    """Upsert candles, skipping minutes that already have stored fills (those minutes are the fills' anyway, and a
    REST row there would count twice once retention drops the raw fills). A later fetch of the same minute replaces
    an earlier, possibly still-forming one."""
    if not candles:
        return 0
    execute_values(
        cur,
        "INSERT INTO rest_candles_1m (code, bucket, open, high, low, close, volume, value, last_time)"
        " SELECT v.code, v.bucket, v.open, v.high, v.low, v.close, v.volume, v.value, v.last_time FROM (VALUES %s)"
        " AS v (code, bucket, open, high, low, close, volume, value, last_time)"
        " WHERE NOT EXISTS (SELECT 1 FROM ticker_data t WHERE t.code = v.code AND t.time >= v.bucket"
        " AND t.time < v.bucket + INTERVAL '1 minute')"
        " ON CONFLICT (code, bucket) DO UPDATE SET open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,"
        " close = EXCLUDED.close, volume = EXCLUDED.volume, value = EXCLUDED.value, last_time = EXCLUDED.last_time,"
        " fetched_at = now()",
        [c.row() for c in candles],
        template="(%s, %s::timestamptz, %s::float8, %s::float8, %s::float8, %s::float8, %s::float8, %s::float8,"
        " %s::timestamptz)",
        page_size=2000,
    )
    return len(candles)


@dataclass
class JobProgress:
    """What a job has done so far (for the progress bar and the summary)."""

    job_id: int
    kind: str
    since: datetime
    until: datetime
    markets: int
    markets_done: int = 0
    requests: int = 0
    candles: int = 0
    resumed: bool = False
    interrupted: bool = False
    seconds: float = 0.0
    per_market_oldest: dict[str, datetime | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "job_id": self.job_id,
            "kind": self.kind,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "markets": self.markets,
            "markets_done": self.markets_done,
            "requests": self.requests,
            "candles": self.candles,
            "resumed": self.resumed,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 2),
        }


def create_job(
    conn: psycopg2.extensions.connection, kind: str, since: datetime, until: datetime, markets: Sequence[str]
) -> int:
    codes = sorted(set(markets))
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO rest_backfill_jobs (kind, since, until, markets) VALUES (%s, %s, %s, %s) RETURNING id",
            (kind, since, until, codes),
        )
        row = cur.fetchone()
        assert row is not None
        job_id = int(row[0])
        execute_values(
            cur,
            "INSERT INTO rest_backfill_progress (job_id, code, cursor_to) VALUES %s",
            [(job_id, code, until) for code in codes],
        )
    conn.commit()
    return job_id


def unfinished_job(conn: psycopg2.extensions.connection, kinds: Sequence[str]) -> int | None:
    """The newest job of these kinds that has not finished (an interrupted run), if any."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id FROM rest_backfill_jobs WHERE kind = ANY(%s) AND status = 'running' ORDER BY id DESC LIMIT 1",
            (list(kinds),),
        )
        row = cur.fetchone()
    conn.commit()
    return int(row[0]) if row else None


def abandon_jobs(conn: psycopg2.extensions.connection, kinds: Sequence[str]) -> int:
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE rest_backfill_jobs SET status = 'abandoned', finished_at = now()"
            " WHERE kind = ANY(%s) AND status = 'running'",
            (list(kinds),),
        )
        n = cur.rowcount
    conn.commit()
    return n


def run_job(
    conn: psycopg2.extensions.connection,
    client: RestCandleClient,
    job_id: int,
    *,
    progress: Callable[[JobProgress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    resumed: bool = False,
) -> JobProgress:
    """Page every unfinished market of the job backwards to its `since`; commit each page with its cursor."""
    started = time.monotonic()
    with conn.cursor() as cur:
        cur.execute("SELECT kind, since, until, requests, candles FROM rest_backfill_jobs WHERE id = %s", (job_id,))
        row = cur.fetchone()
        if row is None:
            raise ValueError(f"backfill job {job_id} does not exist")
        kind, since, until, requests, candles = row
        cur.execute(
            "SELECT code, cursor_to, done FROM rest_backfill_progress WHERE job_id = %s ORDER BY code", (job_id,)
        )
        markets = cur.fetchall()
    conn.commit()
    state = JobProgress(job_id, kind, since, until, len(markets), requests=requests, candles=candles, resumed=resumed)
    state.markets_done = sum(1 for _c, _t, done in markets if done)
    if progress:
        progress(state)
    # Fetching (network, paced by Upbit's limit) and storing (database) overlap: a writer thread commits each page
    # with its cursor, in order, while the next page is being fetched. An interrupted run loses at most the pages
    # in the queue, which were never committed, so a resume fetches them again.
    pages: queue.Queue[_Page | None] = queue.Queue(maxsize=8)
    failure: list[BaseException] = []
    writer = threading.Thread(
        target=_write_pages, args=(conn, job_id, pages, state, progress, failure), name="rest-backfill-writer"
    )
    writer.start()
    try:
        for code, cursor_to, done in markets:
            if done:
                continue
            while not failure:
                if should_stop():
                    state.interrupted = True
                    break
                count = min(MAX_COUNT, max(1, int((cursor_to - since) / MINUTE)))
                page = client.fetch(code, cursor_to, count)
                keep = [c for c in page if since <= c.bucket < cursor_to]
                oldest = min((c.bucket for c in page), default=None)
                # Fewer candles than asked: Upbit has nothing older (or the market is younger than `since`).
                finished = len(page) < count or (oldest is not None and oldest <= since)
                new_cursor = oldest if oldest is not None and not finished else cursor_to
                pages.put(_Page(code, keep, new_cursor, finished, oldest))
                cursor_to = new_cursor
                if finished:
                    break
            if state.interrupted or failure:
                break
    finally:
        pages.put(None)
        writer.join()
    if failure:
        raise failure[0]
    if state.interrupted:
        state.seconds = time.monotonic() - started
        return state
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE rest_backfill_jobs SET status = 'done', finished_at = now() WHERE id = %s AND status = 'running'",
            (job_id,),
        )
    conn.commit()
    state.seconds = time.monotonic() - started
    log.info(
        "REST backfill done job=%s kind=%s markets=%s requests=%s candles=%s seconds=%.1f",
        job_id,
        kind,
        state.markets,
        state.requests,
        state.candles,
        state.seconds,
    )
    return state


@dataclass
class _Page:
    code: str
    candles: list[RestCandle]
    cursor_to: datetime
    finished: bool
    oldest: datetime | None


def _write_pages(
    conn: psycopg2.extensions.connection,
    job_id: int,
    pages: queue.Queue[_Page | None],
    state: JobProgress,
    progress: Callable[[JobProgress], None] | None,
    failure: list[BaseException],
) -> None:
    """Commit pages in order, each with its market's cursor (the only user of `conn` while the job runs). Pages
    waiting in the queue are committed together (one upsert, one commit): the database keeps up with the fetcher."""
    done = False
    while not done:
        batch: list[_Page] = []
        item = pages.get()
        while item is not None:
            batch.append(item)
            if len(batch) >= 8 or pages.empty():
                break
            item = pages.get()
        done = item is None
        if failure or not batch:
            continue  # after a failure nothing more is stored; the queue is drained until the sentinel
        try:
            with conn.cursor() as cur:
                store_candles(cur, [c for page in batch for c in page.candles])
                for page in batch:
                    cur.execute(
                        "UPDATE rest_backfill_progress SET cursor_to = %s, done = %s, requests = requests + 1,"
                        " candles = candles + %s, oldest = LEAST(coalesce(oldest, %s), %s), updated_at = now()"
                        " WHERE job_id = %s AND code = %s",
                        (page.cursor_to, page.finished, len(page.candles), page.oldest, page.oldest, job_id, page.code),
                    )
                cur.execute(
                    "UPDATE rest_backfill_jobs SET requests = requests + %s, candles = candles + %s WHERE id = %s",
                    (len(batch), sum(len(p.candles) for p in batch), job_id),
                )
            conn.commit()
        except BaseException as exc:  # noqa: BLE001 - handed to the fetching thread, which raises it
            conn.rollback()
            failure.append(exc)
            continue
        for page in batch:
            state.requests += 1
            state.candles += len(page.candles)
            if page.finished:
                state.markets_done += 1
        if progress:
            progress(state)


def followed_markets(conn: psycopg2.extensions.connection, settings: Settings) -> list[str]:
    """Listed markets of the configured quotes (or UPBIT_CODES) from the stored catalog."""
    if settings.explicit_codes:
        return sorted(settings.explicit_codes)
    quotes = settings.quote_currencies
    with conn.cursor() as cur:
        if quotes is None:
            cur.execute("SELECT code FROM markets WHERE listed ORDER BY code")
        else:
            cur.execute("SELECT code FROM markets WHERE listed AND quote = ANY(%s) ORDER BY code", (quotes,))
        codes = [code for (code,) in cur.fetchall()]
    conn.commit()
    return codes


def refresh_markets(conn: psycopg2.extensions.connection, settings: Settings) -> list[str]:
    """Fetch and store the catalog when Upbit answers (else keep the stored one); the markets to follow."""
    try:
        store_catalog(conn, fetch_catalog(settings.upbit_rest_url))
    except CatalogError as exc:
        log.warning("catalog not refreshed, using the stored one: %s", exc)
    return followed_markets(conn, settings)


def backfill(
    conn: psycopg2.extensions.connection,
    client: RestCandleClient,
    *,
    kind: str,
    since: datetime,
    until: datetime,
    markets: Sequence[str],
    resume: bool = True,
    progress: Callable[[JobProgress], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> JobProgress:
    """Resume the unfinished job of this kind (when `resume`), else start a new one over [since, until)."""
    job_id = unfinished_job(conn, [kind]) if resume else None
    if job_id is None:
        job_id = create_job(conn, kind, floor_minute(since), floor_minute(until), markets)
        return run_job(conn, client, job_id, progress=progress, should_stop=should_stop)
    log.info("resuming REST backfill job=%s kind=%s", job_id, kind)
    return run_job(conn, client, job_id, progress=progress, should_stop=should_stop, resumed=True)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`24h`, `90m`, `2d` (before now) or an ISO 8601 time."""
    now = now or datetime.now(UTC)
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhd])\s*", text.lower())
    if match:
        amount, unit = float(match.group(1)), match.group(2)
        return now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: amount})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"--since {text!r}: use 24h, 90m, 2d or an ISO time such as 2026-11-29T00:00:00Z") from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)
