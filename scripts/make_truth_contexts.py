"""Regenerate bench/truth/*.txt: contexts rendered by the real analytics layer over a simulator-filled scratch DB.

The truth benchmark's answers are written against these files, so regenerate only together with the corpus.
Run: UPBIT_TEST_REDIS_DB=8 .venv/bin/python scripts/make_truth_contexts.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.coin import coin_brief  # noqa: E402
from analytics.movers import top_movers  # noqa: E402
from analytics.overview import market_overview  # noqa: E402
from db.connection import connect  # noqa: E402
from llm.interpret import _event_context, _load  # noqa: E402
from tests.conftest import make_scratch_db  # noqa: E402
from tests.support.analyst_data import fill_market, insert_anomaly  # noqa: E402

OUT = ROOT / "bench" / "truth"


def main() -> None:
    gen = make_scratch_db()
    settings = next(gen)
    try:
        fill_market(settings, markets=30, seconds=420, rate=40, seed=11)
        anomaly = insert_anomaly(settings, market="KRW-XRP", kind="pump", severity="high")
        conn = connect(settings)
        with conn.cursor() as cur:  # the headline metrics the detector writes for a pump
            cur.execute(
                "UPDATE anomalies SET metrics = %s::jsonb WHERE id = %s",
                (
                    '{"price_change_pct": 3.412, "peak_change_pct": 3.9, "value_ratio": 6.52, "window_seconds": 300,'
                    ' "value_krw": 812345678.9, "baseline_value_krw": 124500000.0, "buy_share_pct": 71.4,'
                    ' "fills": 418}',
                    anomaly,
                ),
            )
        conn.commit()
        conn.close()
        conn = connect(settings)
        try:
            files = {
                "overview.txt": market_overview(conn).to_context(),
                "coins.txt": "\n\n".join(
                    coin_brief(conn, m).to_context(budget=190) for m in ("KRW-BTC", "KRW-ETH", "KRW-XRP")
                ),
                "movers.txt": top_movers(conn, window="5m", direction="both").to_context(),
                "event.txt": _event_context(_load(conn, anomaly) or {})
                + "\n"
                + coin_brief(conn, "KRW-XRP").to_context(),
            }
        finally:
            conn.close()
        for name, text in files.items():
            (OUT / name).write_text(text + "\n", encoding="utf-8")
            print(f"{name}:\n{text}\n")
    finally:
        gen.close()


if __name__ == "__main__":
    main()
