/* Market overview page: breadth, totals, the sortable market table, latest summary and the live anomaly feed. */
"use strict";

(() => {
  const U = UPBIT;
  const { $, T, BOOT } = U;
  const state = { rows: [], sortKey: "value_24h_upbit_krw", sortDir: "desc", filter: "", prices: new Map() };

  function renderBreadth(b) {
    const card = document.getElementById("breadth-" + b.window);
    if (!card) return;
    const total = Math.max(1, b.up + b.down + b.flat);
    const bar = card.querySelector(".bar");
    bar.querySelector(".up").style.width = (100 * b.up) / total + "%";
    bar.querySelector(".flat").style.width = (100 * b.flat) / total + "%";
    bar.querySelector(".down").style.width = (100 * b.down) / total + "%";
    U.setNum(card.querySelector(".n-up"), String(b.up), b.up);
    U.setNum(card.querySelector(".n-flat"), String(b.flat), b.flat);
    U.setNum(card.querySelector(".n-down"), String(b.down), b.down);
  }

  function majorLine(line) {
    if (!line) return "";
    return `<div class="major" id="major-${U.esc(line.market)}"><a href="/coin/${encodeURIComponent(line.market)}">${U.esc(line.symbol)}</a>
      <span class="num" data-raw="${line.price ?? ""}">${U.price(line.price)}</span>
      <span class="num ${U.pctClass(line.change_24h_pct)}" data-raw="${line.change_24h_pct ?? ""}">${U.pct(line.change_24h_pct)}</span></div>`;
  }

  function renderOverview(ov) {
    if (!ov) return;
    U.setFreshness(ov.freshness);
    for (const b of [ov.breadth_prev_close, ov.breadth_5m, ov.breadth_1h]) if (b) renderBreadth(b);
    U.setNum($("#value-24h"), U.krw(ov.value_24h_upbit_krw), ov.value_24h_upbit_krw);
    U.setNum($("#value-1h"), U.krw(ov.value_1h_fills_krw), ov.value_1h_fills_krw);
    // A 1h figure from less than an hour of stored data says how much it covers (docs/truth.md).
    const cov = ov.value_1h_coverage_seconds;
    let note = "";
    if (cov != null && cov < 3540) {
      const span = cov < 120 ? (U.LANG === "ko" ? `${Math.round(cov)}초` : `${Math.round(cov)} s`)
        : (U.LANG === "ko" ? `${Math.round(cov / 60)}분` : `${Math.round(cov / 60)} min`);
      note = U.LANG === "ko" ? `(${span}치 데이터)` : `(${span} of data)`;
    }
    $("#value-1h-coverage").textContent = note;
    U.setNum($("#markets-count"), String(ov.markets), ov.markets);
    $("#majors").innerHTML = majorLine(ov.btc) + majorLine(ov.eth);
  }

  function sortValue(row, key) {
    if (key === "name") return (U.LANG === "ko" ? row.korean_name : row.english_name || row.korean_name) || row.market;
    return row[key];
  }

  function renderTable() {
    const tbody = $("#market-table tbody");
    const q = state.filter.toLowerCase();
    let rows = state.rows.filter(
      (r) => !q || [r.market, r.symbol, r.korean_name, r.english_name].some((s) => (s || "").toLowerCase().includes(q)),
    );
    const dir = state.sortDir === "asc" ? 1 : -1;
    rows = rows.slice().sort((a, b) => {
      const x = sortValue(a, state.sortKey);
      const y = sortValue(b, state.sortKey);
      if (x === null || x === undefined) return 1; // missing values always last
      if (y === null || y === undefined) return -1;
      if (typeof x === "string") return dir * x.localeCompare(y, U.LANG);
      return dir * (x - y);
    });
    const html = rows.map((r) => {
      const name = U.LANG === "ko" ? r.korean_name || r.english_name : r.english_name || r.korean_name;
      const prev = state.prices.get(r.market);
      const flash = U.isNum(prev) && U.isNum(r.price) && prev !== r.price ? (r.price > prev ? " flash-up" : " flash-down") : "";
      const cell = (key, text, cls) => `<td class="num ${cls || ""}" data-key="${key}" data-raw="${r[key] ?? ""}">${text}</td>`;
      return `<tr id="row-${U.esc(r.market)}" data-market="${U.esc(r.market)}">
        <td class="name" data-key="name"><a href="/coin/${encodeURIComponent(r.market)}">${U.esc(name || r.symbol)}</a><span class="code muted">${U.esc(r.symbol)}</span></td>
        ${cell("price", U.price(r.price), flash.trim())}
        ${cell("change_24h_pct", U.pct(r.change_24h_pct), U.pctClass(r.change_24h_pct))}
        ${cell("change_5m_pct", U.pct(r.change_5m_pct), U.pctClass(r.change_5m_pct))}
        ${cell("change_1h_pct", U.pct(r.change_1h_pct), U.pctClass(r.change_1h_pct))}
        ${cell("value_24h_upbit_krw", U.krw(r.value_24h_upbit_krw))}</tr>`;
    });
    tbody.innerHTML = html.join("");
    for (const r of state.rows) state.prices.set(r.market, r.price);
    $("#table-empty").hidden = state.rows.length > 0;
    $("#market-table").dataset.rows = String(rows.length);
  }

  function setRows(table) {
    if (!table) return;
    state.rows = table.items || [];
    if (table.freshness) U.setFreshness(table.freshness);
    renderTable();
  }

  function renderSummary(res) {
    const text = $("#summary-text");
    const meta = $("#summary-meta");
    if (!res || !res.found || !res.summary) {
      text.textContent = T.no_summary;
      meta.textContent = "";
      return;
    }
    const s = res.summary;
    text.textContent = s.text;
    const parts = [
      `${T.as_of} ${U.kst(s.as_of, true)} (${U.ago(res.age_seconds)})`,
      `${T.model} ${s.model}${s.offline ? " · " + T.offline : ""}`,
      `${T.tokens} ${U.tokens(s)}`,
      `${T.cost} ${U.usd(s.cost_usd)}`,
    ];
    if (s.grounded === false) parts.push("⚠ " + T.grounded_no);
    meta.innerHTML = parts.map((p) => `<span>${U.esc(p)}</span>`).join(" · ");
    meta.dataset.summaryId = String(s.id);
  }

  // Sorting and filtering.
  for (const th of document.querySelectorAll("#market-table th.sortable")) {
    th.addEventListener("click", () => {
      const key = th.dataset.key;
      if (state.sortKey === key) state.sortDir = state.sortDir === "asc" ? "desc" : "asc";
      else {
        state.sortKey = key;
        state.sortDir = key === "name" ? "asc" : "desc";
      }
      for (const other of document.querySelectorAll("#market-table th")) other.classList.remove("sorted", "asc", "desc");
      th.classList.add("sorted", state.sortDir);
      renderTable();
    });
  }
  $("#table-filter").addEventListener("input", (ev) => {
    state.filter = ev.target.value.trim();
    renderTable();
  });

  renderOverview(BOOT.overview);
  setRows(BOOT.markets);
  renderSummary(BOOT.summary);
  U.renderAnomalies(BOOT.anomalies);

  async function poll() {
    try {
      const [ov, mk, sm, an] = await Promise.all([
        U.api("/api/overview"),
        U.api("/api/markets"),
        U.api("/api/summary"),
        U.api("/api/anomalies"),
      ]);
      renderOverview(ov);
      setRows(mk);
      renderSummary(sm);
      U.renderAnomalies(an);
      U.setLive(true);
    } catch (err) {
      U.setLive(false);
    }
  }

  U.stream(
    "/api/stream",
    {
      overview: renderOverview,
      markets: setRows,
      summary: renderSummary,
      anomalies: (l) => U.renderAnomalies(l),
      status: (st) => U.setLive(!!st.ok),
    },
    poll,
  );
})();
