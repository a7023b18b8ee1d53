/* Coin page: brief numbers, candlestick chart (1m/5m/1h) with anomaly markers and indicator overlays (moving
   averages, Bollinger bands, an RSI pane — computed by analytics.indicators, only drawn here), the coin's anomalies
   and Q&A. */
"use strict";

(() => {
  const U = UPBIT;
  const { $, T, BOOT } = U;
  const LC = window.LightweightCharts;
  const market = BOOT.market;
  const chartEl = $("#chart");
  const SEV_COLOUR = { info: "#64748b", low: "#0ea5e9", medium: "#f59e0b", high: "#f97316", critical: "#ef4444" };
  const STEP_S = { "1m": 60, "5m": 300, "1h": 3600 };
  let interval = chartEl.dataset.interval || "1m";
  let anomalies = [];
  let lastTime = null;

  /* ---- brief --------------------------------------------------------------------------------- */
  function range(lo, hi) {
    return U.isNum(lo) && U.isNum(hi) ? `${U.price(lo)} ~ ${U.price(hi)}` : "–";
  }
  function renderBrief(b) {
    if (!b) return;
    U.setFreshness(b.freshness);
    const ref = b.ref || {};
    const name = U.LANG === "ko" ? ref.korean_name || ref.english_name : ref.english_name || ref.korean_name;
    if (name) $("#coin-name").textContent = name;
    U.setNum($("#coin-price"), U.price(b.price), b.price, U.pctClass(b.change_24h_pct));
    U.setNum($("#coin-change-24h"), U.pct(b.change_24h_pct), b.change_24h_pct, U.pctClass(b.change_24h_pct));
    U.setNum($("#coin-change-1m"), U.pct(b.change_1m_pct), b.change_1m_pct, U.pctClass(b.change_1m_pct));
    U.setNum($("#coin-change-5m"), U.pct(b.change_5m_pct), b.change_5m_pct, U.pctClass(b.change_5m_pct));
    U.setNum($("#coin-change-1h"), U.pct(b.change_1h_pct), b.change_1h_pct, U.pctClass(b.change_1h_pct));
    U.setNum($("#coin-value-24h"), U.krw(b.value_24h_upbit_krw), b.value_24h_upbit_krw);
    U.setNum($("#coin-value-ratio"), U.ratio(b.value_vs_baseline), b.value_vs_baseline);
    U.setNum($("#coin-buy-share"), U.share(b.buy_share_1h_pct), b.buy_share_1h_pct);
    $("#coin-day-range").textContent = range(b.day_low, b.day_high);
    $("#coin-52w-range").textContent = range(b.low_52w, b.high_52w);
    const flags = (ref.warning ? ["warning"] : []).concat(ref.caution || []);
    $("#coin-flags").innerHTML = flags.map((f) => `<span class="flag" title="${U.esc(T.caution)}">${U.esc(T["flag_" + f] || f)}</span>`).join("");
    anomalies = b.anomalies || [];
    U.renderAnomalies({ items: anomalies }, { market });
    applyMarkers();
  }

  /* ---- chart --------------------------------------------------------------------------------- */
  // Lightweight Charts draws UTC; shifting by +9 h makes its axis read in KST like Upbit's.
  const toChartTime = (iso) => Math.floor(new Date(iso).getTime() / 1000) + U.KST_OFFSET_S;
  const chart = LC.createChart(chartEl, {
    autoSize: true,
    layout: { background: { type: "solid", color: "#171e27" }, textColor: "#c7ced8", fontSize: 12 },
    grid: { vertLines: { color: "#222b36" }, horzLines: { color: "#222b36" } },
    rightPriceScale: { borderColor: "#2a3441", scaleMargins: { top: 0.08, bottom: 0.25 } },
    timeScale: { borderColor: "#2a3441", timeVisible: true, secondsVisible: false },
    crosshair: { mode: LC.CrosshairMode.Normal },
    localization: { priceFormatter: (p) => U.price(p) },
  });
  const candles = chart.addSeries(LC.CandlestickSeries, {
    upColor: "#f04452",
    downColor: "#3b82f6",
    borderUpColor: "#f04452",
    borderDownColor: "#3b82f6",
    wickUpColor: "#f04452",
    wickDownColor: "#3b82f6",
    priceFormat: { type: "custom", formatter: (p) => U.price(p), minMove: 1e-8 },
  });
  const volume = chart.addSeries(LC.HistogramSeries, {
    priceScaleId: "value",
    priceFormat: { type: "custom", formatter: (v) => U.krw(v) },
    lastValueVisible: false,
    priceLineVisible: false,
  });
  chart.priceScale("value").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  const markers = LC.createSeriesMarkers(candles, []);

  /* ---- indicator overlays: values come from /api/indicators (the analytics layer computes every number) ---- */
  const OVERLAYS = [
    { key: "bb_upper", label: "BB upper", color: "#94a3b8", style: LC.LineStyle.Dashed },
    { key: "bb_mid", label: "SMA20 (BB mid)", color: "#facc15", style: LC.LineStyle.Solid },
    { key: "bb_lower", label: "BB lower", color: "#94a3b8", style: LC.LineStyle.Dashed },
    { key: "sma50", label: "SMA50", color: "#fb923c", style: LC.LineStyle.Solid },
    { key: "sma200", label: "SMA200", color: "#a78bfa", style: LC.LineStyle.Solid },
    { key: "ema20", label: "EMA20", color: "#34d399", style: LC.LineStyle.Dotted },
    { key: "ema50", label: "EMA50", color: "#22d3ee", style: LC.LineStyle.Dotted },
    { key: "ema200", label: "EMA200", color: "#f472b6", style: LC.LineStyle.Dotted },
  ];
  const lineOpts = (o) => ({
    color: o.color,
    lineWidth: 1,
    lineStyle: o.style,
    priceLineVisible: false,
    lastValueVisible: false,
    crosshairMarkerVisible: false,
    title: "",
    priceFormat: { type: "custom", formatter: (p) => U.price(p), minMove: 1e-8 },
  });
  const overlaySeries = OVERLAYS.map((o) => ({ o, s: chart.addSeries(LC.LineSeries, lineOpts(o)) }));
  // RSI in its own pane under the price, with Wilder's 70/30 lines.
  const rsiSeries = chart.addSeries(
    LC.LineSeries,
    {
      color: "#e879f9",
      lineWidth: 1,
      priceLineVisible: false,
      priceFormat: { type: "price", precision: 1, minMove: 0.1 },
      // RSI lives on 0..100: a fixed scale keeps the 70/30 lines in view whatever the reading.
      autoscaleInfoProvider: () => ({ priceRange: { minValue: 0, maxValue: 100 } }),
    },
    1,
  );
  for (const level of [70, 30]) {
    rsiSeries.createPriceLine({ price: level, color: "#64748b", lineWidth: 1, lineStyle: LC.LineStyle.Dashed, axisLabelVisible: true });
  }
  if (chart.panes().length > 1) chart.panes()[1].setHeight(110);
  const legend = document.getElementById("chart-legend");
  if (legend) {
    legend.innerHTML =
      OVERLAYS.map((o) => `<span><i style="background:${o.color}"></i>${U.esc(o.label)}</span>`).join("") +
      `<span><i style="background:#e879f9"></i>RSI14</span>`;
  }
  let lastOverlayTime = null;

  function overlayPoints(ind, key) {
    const out = [];
    for (const p of ind.points || []) if (U.isNum(p[key])) out.push({ time: toChartTime(p.t), value: p[key] });
    return out;
  }
  function setOverlays(ind) {
    if (!ind || ind.interval !== interval) return;
    let drawn = 0;
    for (const { o, s } of overlaySeries) {
      const pts = overlayPoints(ind, o.key);
      s.setData(pts);
      if (pts.length) drawn += 1;
    }
    const rsi = overlayPoints(ind, "rsi14");
    rsiSeries.setData(rsi);
    const pts = ind.points || [];
    lastOverlayTime = pts.length ? toChartTime(pts[pts.length - 1].t) : null;
    chartEl.dataset.overlays = String(drawn);
    chartEl.dataset.rsiPoints = String(rsi.length);
    chartEl.dataset.lastRsi = rsi.length ? String(rsi[rsi.length - 1].value) : "";
  }
  function mergeOverlays(ind) {
    if (!ind || ind.interval !== interval) return;
    for (const p of ind.points || []) {
      const time = toChartTime(p.t);
      if (lastOverlayTime !== null && time < lastOverlayTime) continue;
      for (const { o, s } of overlaySeries) if (U.isNum(p[o.key])) s.update({ time, value: p[o.key] });
      if (U.isNum(p.rsi14)) {
        rsiSeries.update({ time, value: p.rsi14 });
        chartEl.dataset.lastRsi = String(p.rsi14);
      }
      lastOverlayTime = time;
    }
  }
  async function loadOverlays(limit) {
    try {
      const ind = await U.api(`/api/indicators/${encodeURIComponent(market)}?interval=${interval}&limit=${limit}`);
      if (limit > 3) setOverlays(ind);
      else mergeOverlays(ind);
    } catch (err) {
      chartEl.dataset.overlayError = err.message;
    }
  }

  function bars(series) {
    const out = [];
    const vols = [];
    for (const c of series.candles || []) {
      if (![c.open, c.high, c.low, c.close].every(U.isNum)) continue;
      const time = toChartTime(c.t);
      out.push({ time, open: c.open, high: c.high, low: c.low, close: c.close });
      vols.push({
        time,
        value: U.isNum(c.value_fills_krw) ? c.value_fills_krw : 0,
        color: c.close >= c.open ? "rgba(240,68,82,.45)" : "rgba(59,130,246,.45)",
      });
    }
    return { out, vols };
  }

  function setSeries(series) {
    const { out, vols } = bars(series);
    candles.setData(out);
    volume.setData(vols);
    lastTime = out.length ? out[out.length - 1].time : null;
    chartEl.dataset.candles = String(out.length);
    chartEl.dataset.interval = interval;
    chartEl.dataset.lastClose = out.length ? String(out[out.length - 1].close) : "";
    $("#chart-empty").hidden = out.length > 0;
    if (series.freshness) U.setFreshness(series.freshness);
    applyMarkers();
    chart.timeScale().fitContent();
  }

  function mergeSeries(series) {
    const { out, vols } = bars(series);
    let added = 0;
    out.forEach((bar, i) => {
      if (lastTime !== null && bar.time < lastTime) return; // only the open bar and newer ones can change
      if (lastTime === null || bar.time > lastTime) added += 1;
      candles.update(bar);
      volume.update(vols[i]);
      lastTime = bar.time;
      chartEl.dataset.lastClose = String(bar.close);
    });
    if (added) chartEl.dataset.candles = String(Number(chartEl.dataset.candles || 0) + added);
    if (added) applyMarkers();
  }

  // One marker per anomaly, on the bar where it started (snapped to the interval), coloured by severity.
  function applyMarkers() {
    const data = candles.data();
    if (!data.length) {
      markers.setMarkers([]);
      chartEl.dataset.markers = "0";
      return;
    }
    const first = data[0].time;
    const step = STEP_S[interval];
    const list = anomalies
      .filter((a) => a.market === market)
      .map((a) => {
        const t = toChartTime(a.started_at);
        return {
          time: t - (t % step),
          position: "aboveBar",
          shape: "arrowDown",
          color: SEV_COLOUR[a.severity] || "#f5b83d",
          text: T["kind_" + a.kind] || a.kind,
          id: String(a.id),
        };
      })
      .filter((m) => m.time >= first && m.time <= lastTime)
      .sort((a, b) => a.time - b.time);
    markers.setMarkers(list);
    chartEl.dataset.markers = String(list.length);
  }

  async function loadInterval(iv) {
    interval = iv;
    for (const b of document.querySelectorAll(".intervals button")) b.classList.toggle("active", b.dataset.interval === iv);
    const url = new URL(window.location.href);
    url.searchParams.set("interval", iv);
    history.replaceState(null, "", url);
    try {
      setSeries(await U.api(`/api/candles/${encodeURIComponent(market)}?interval=${iv}&limit=300`));
      await loadOverlays(300);
    } catch (err) {
      $("#chart-empty").hidden = false;
      $("#chart-empty").textContent = `${T.error}: ${err.message}`;
    }
  }
  for (const b of document.querySelectorAll(".intervals button")) {
    b.addEventListener("click", () => loadInterval(b.dataset.interval));
  }

  /* ---- live: poll the brief and the newest candles ------------------------------------------------ */
  let polling = false;
  async function poll() {
    if (polling || document.hidden) return;
    polling = true;
    try {
      const [brief, tail] = await Promise.all([
        U.api(`/api/coins/${encodeURIComponent(market)}`),
        U.api(`/api/candles/${encodeURIComponent(market)}?interval=${interval}&limit=3`),
      ]);
      renderBrief(brief);
      if (tail.interval === interval) mergeSeries(tail);
      await loadOverlays(3);
      U.setLive(true);
    } catch (err) {
      U.setLive(false);
    } finally {
      polling = false;
    }
  }

  /* ---- Q&A ----------------------------------------------------------------------------------- */
  $("#qa-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const question = $("#qa-question").value.trim();
    if (!question) return;
    const button = $("#qa-submit");
    const answer = $("#qa-answer");
    const meta = $("#qa-meta");
    button.disabled = true;
    answer.classList.remove("error");
    answer.textContent = T.asking;
    meta.textContent = "";
    try {
      const res = await U.api(`/api/coins/${encodeURIComponent(market)}/ask`, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ question, lang: U.LANG }),
      });
      answer.textContent = res.text;
      answer.dataset.status = res.status || "";
      const parts = [];
      if (res.as_of) parts.push(`${T.as_of} ${U.kst(res.as_of, true)}`);
      if (res.model) parts.push(`${T.model} ${res.model}${res.offline ? " · " + T.offline : ""}`);
      parts.push(`${T.tokens} ${U.tokens(res)}`);
      if (U.isNum(res.cost_usd)) parts.push(`${T.cost} ${U.usd(res.cost_usd)}`);
      if (res.grounded === false) parts.push("⚠ " + T.grounded_no);
      else if (res.status === "answered") parts.push("✓ " + T.grounded_yes);
      answer.dataset.grounded = String(res.grounded);
      meta.textContent = parts.join(" · ");
    } catch (err) {
      answer.classList.add("error");
      answer.textContent = `${T.error}: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  });

  renderBrief(BOOT.brief);
  if (BOOT.candles) {
    setSeries(BOOT.candles);
    if (BOOT.indicators) setOverlays(BOOT.indicators);
    else loadOverlays(300);
  } else loadInterval(interval);
  U.setLive(true);
  setInterval(poll, U.REFRESH_MS);
  document.addEventListener("visibilitychange", poll);
})();
