/* Shared by every dashboard page: formatting (KRW, signed %, KST times), API calls, freshness, live stream,
   anomaly feed. Korean convention for colours: red (.up) = rising, blue (.down) = falling. */
"use strict";

const UPBIT = (() => {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const readJson = (id) => {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  };
  const T = readJson("i18n") || {};
  const BOOT = readJson("boot") || {};
  const LANG = document.body.dataset.lang || "ko";
  const REFRESH_MS = Number(document.body.dataset.refreshMs || 2000);
  const STALE_AFTER_S = 60;
  const KST_OFFSET_S = 9 * 3600;
  const DASH = "–";

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);

  /* ---- formatting --------------------------------------------------------------------------- */
  const nf = (opts) => new Intl.NumberFormat("en-US", opts);
  const int0 = nf({ maximumFractionDigits: 0 });
  const sig4 = nf({ maximumSignificantDigits: 4 });
  const dp1 = nf({ maximumFractionDigits: 1 });
  const dp2 = nf({ minimumFractionDigits: 2, maximumFractionDigits: 2 });

  // Prices as Upbit shows them: whole won from 1,000 up, finer steps below.
  function price(v) {
    if (!isNum(v)) return DASH;
    const a = Math.abs(v);
    if (a >= 1000) return int0.format(v);
    if (a >= 100) return dp1.format(v);
    return sig4.format(v);
  }

  // Signed percent with two decimals; the class follows the rounded value, so "+0.00%" is flat.
  function pct(v) {
    if (!isNum(v)) return DASH;
    const r = Math.round(v * 100) / 100;
    const s = dp2.format(Math.abs(r));
    return (r > 0 ? "+" : r < 0 ? "-" : "") + s + "%";
  }
  function pctClass(v) {
    if (!isNum(v)) return "flat";
    const r = Math.round(v * 100) / 100;
    return r > 0 ? "up" : r < 0 ? "down" : "flat";
  }

  // KRW amounts: 조/억/만 in Korean, T/B/M in English.
  function krw(v) {
    if (!isNum(v)) return DASH;
    const sign = v < 0 ? "-" : "";
    const a = Math.abs(v);
    if (LANG === "ko") {
      if (a >= 1e12) return sign + dp2.format(a / 1e12) + "조";
      if (a >= 1e8) return sign + int0.format(a / 1e8) + "억";
      if (a >= 1e4) return sign + int0.format(a / 1e4) + "만";
      return sign + int0.format(a) + "원";
    }
    if (a >= 1e12) return sign + "₩" + dp2.format(a / 1e12) + "T";
    if (a >= 1e9) return sign + "₩" + dp2.format(a / 1e9) + "B";
    if (a >= 1e6) return sign + "₩" + dp2.format(a / 1e6) + "M";
    return sign + "₩" + int0.format(a);
  }

  function share(v) {
    return isNum(v) ? dp1.format(v) + "%" : DASH;
  }
  function ratio(v) {
    return isNum(v) ? dp2.format(v) + "×" : DASH;
  }
  // "in → out" tokens, plus the compact context's size (the offline analyst uses no model tokens).
  function tokens(r) {
    const n = (v) => (isNum(v) ? v.toLocaleString("en-US") : "0");
    const ctx = isNum(r.context_tokens) ? ` (${T.context} ${n(r.context_tokens)})` : "";
    return `${n(r.input_tokens)} → ${n(r.output_tokens)}${ctx}`;
  }
  function usd(v) {
    return isNum(v) ? "$" + nf({ minimumFractionDigits: 4, maximumFractionDigits: 4 }).format(v) : DASH;
  }

  // Times in KST (Upbit's and its traders' clock), whatever the browser's zone.
  function kst(iso, withDate) {
    if (!iso) return DASH;
    const d = new Date(new Date(iso).getTime() + KST_OFFSET_S * 1000);
    const p = (n) => String(n).padStart(2, "0");
    const hms = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
    return (withDate ? `${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())} ` : "") + hms + " KST";
  }
  function ago(seconds) {
    if (!isNum(seconds)) return "";
    const s = Math.max(0, Math.round(seconds));
    if (LANG === "ko") {
      if (s < 60) return `${s}초 전`;
      if (s < 3600) return `${Math.floor(s / 60)}분 전`;
      return `${Math.floor(s / 3600)}시간 전`;
    }
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    return `${Math.floor(s / 3600)}h ago`;
  }

  function setNum(el, text, raw, cls) {
    if (!el) return;
    el.textContent = text;
    el.dataset.raw = raw === null || raw === undefined ? "" : String(raw);
    if (cls !== undefined) {
      el.classList.remove("up", "down", "flat");
      el.classList.add(cls);
    }
  }

  function esc(s) {
    return String(s === null || s === undefined ? "" : s).replace(
      /[&<>"']/g,
      (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c],
    );
  }

  /* ---- API -------------------------------------------------------------------------------- */
  async function api(path, options) {
    const res = await fetch(path, Object.assign({ credentials: "same-origin", headers: { Accept: "application/json" } }, options || {}));
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const detail = body && (body.detail || body.error);
      throw new Error(typeof detail === "string" ? detail : `HTTP ${res.status}`);
    }
    return body;
  }

  /* ---- freshness ------------------------------------------------------------------------------ */
  const fresh = { asOf: null, serverStale: false, live: false };
  function setFreshness(freshness) {
    if (!freshness) return;
    fresh.asOf = freshness.as_of ? new Date(freshness.as_of) : null;
    fresh.serverStale = !!freshness.stale;
    const el = $("#as-of");
    if (el) {
      el.textContent = kst(freshness.as_of);
      el.dateTime = freshness.as_of || "";
      el.title = freshness.as_of || "";
    }
    tickFreshness();
  }
  function setLive(live) {
    fresh.live = live;
    const label = $("#live-label");
    if (label) label.textContent = live ? T.live : T.reconnecting;
    tickFreshness();
  }
  function tickFreshness() {
    const box = $("#freshness");
    if (!box) return;
    const age = fresh.asOf ? (Date.now() - fresh.asOf.getTime()) / 1000 : null;
    const stale = fresh.serverStale || age === null || age > STALE_AFTER_S;
    const agoEl = $("#as-of-ago");
    if (agoEl) agoEl.textContent = age === null ? "" : `(${ago(age)}${stale ? " · " + T.stale : ""})`;
    box.classList.toggle("live", fresh.live && !stale);
    box.classList.toggle("stale", stale);
    box.dataset.ageSeconds = age === null ? "" : String(Math.round(age));
  }
  setInterval(tickFreshness, 1000);

  /* ---- live stream (server-sent events), with polling as the fallback ---------------------------- */
  function stream(path, handlers, pollFallback) {
    if (!window.EventSource) {
      setLive(true);
      if (pollFallback) setInterval(pollFallback, REFRESH_MS);
      return null;
    }
    const es = new EventSource(path, { withCredentials: true });
    es.onopen = () => setLive(true);
    es.onerror = () => setLive(false); // EventSource reconnects by itself (retry from the server)
    for (const [name, fn] of Object.entries(handlers)) {
      es.addEventListener(name, (ev) => {
        try {
          fn(JSON.parse(ev.data));
        } catch (err) {
          console.error("live event failed", name, err);
        }
      });
    }
    window.addEventListener("beforeunload", () => es.close());
    return es;
  }

  /* ---- anomaly feed ---------------------------------------------------------------------------- */
  const seenAnomalies = new Set();
  let feedPrimed = false;
  function kindLabel(kind) {
    return T["kind_" + kind] || kind;
  }
  function metricText(m) {
    if (!m) return "";
    const parts = [];
    const change = isNum(m.price_change_pct) ? m.price_change_pct : m.change_pct;
    if (isNum(change)) parts.push(`<span class="${pctClass(change)}">${pct(change)}</span>`);
    if (isNum(m.value_ratio)) parts.push(esc(ratio(m.value_ratio)));
    if (isNum(m.buy_share_pct)) parts.push(esc(`${T.buy} ${share(m.buy_share_pct)}`));
    return parts.join(" · ");
  }
  function renderAnomalies(list, opts) {
    const feed = $("#anomaly-feed");
    if (!feed || !list) return;
    const items = (list.items || []).filter((a) => !opts || !opts.market || a.market === opts.market);
    const html = items.map((a) => {
      const fresh = feedPrimed && !seenAnomalies.has(a.id);
      const interp = a.interpretation ? `<div class="interp">${esc(a.interpretation)}</div>` : "";
      const where = a.market === "MARKET" ? esc(T.markets) : `<a href="/coin/${encodeURIComponent(a.market)}">${esc(a.market)}</a>`;
      return `<li id="anomaly-${a.id}" data-id="${a.id}" data-market="${esc(a.market)}" class="sev-${esc(a.severity)}${a.status === "resolved" ? " resolved" : ""}${fresh ? " new" : ""}">
        <div class="row1"><span><span class="sev sev-${esc(a.severity)}">${esc(a.severity)}</span> ${where} ${esc(kindLabel(a.kind))}</span>
        <span class="muted status">${esc(T["status_" + a.status] || a.status)}</span></div>
        <div class="row2 muted">${kst(a.started_at, true)} ${metricText(a.metrics)}</div>${interp}</li>`;
    });
    feed.innerHTML = html.join("");
    for (const a of items) seenAnomalies.add(a.id);
    feedPrimed = true;
    const count = $("#anomaly-count");
    if (count) count.textContent = String(items.length);
    const empty = $("#anomaly-empty");
    if (empty) empty.hidden = items.length > 0;
  }

  /* ---- coin search (header) --------------------------------------------------------------------- */
  const search = $(".search");
  if (search) {
    search.addEventListener("submit", (ev) => {
      const q = $("#coin-search").value.trim();
      if (!q) {
        ev.preventDefault();
        return;
      }
      ev.preventDefault();
      window.location.href = "/coin/" + encodeURIComponent(q);
    });
  }

  return { $, T, BOOT, LANG, REFRESH_MS, KST_OFFSET_S, isNum, price, pct, pctClass, krw, share, ratio, usd, tokens, kst, ago, setNum, esc, api, setFreshness, setLive, stream, renderAnomalies };
})();
