"""Coin resolver: free text (code, symbol, Korean/English name, short forms, typos) → Upbit market(s).

Matching happens in Python over the cached catalog; the user's text never reaches SQL, so injection strings and
garbage simply resolve to "not found" with the closest suggestions.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg2.extensions
from rapidfuzz import fuzz, process

from analytics.catalog import Catalog, load_catalog, quote_rank
from analytics.models import MarketRef, Resolution

MAX_QUERY_CHARS = 200
FUZZY_ACCEPT = 85.0  # a unique best match at or above this is taken as the answer
FUZZY_MARGIN = 4.0  # ... when it beats the next market by this much
FUZZY_SUGGEST = 45.0
FIND_FUZZY_ACCEPT = 88.0  # stricter when scanning a sentence for several coins

# Short forms Korean traders use, by symbol. Applied only when the symbol is in the catalog.
ALIASES: dict[str, tuple[str, ...]] = {
    "BTC": ("비트", "빗코", "비코", "btc코인", "bitcoin", "비트코인"),
    "ETH": ("이더", "이더리움", "이더리엄", "이드", "ether"),
    "DOGE": ("도지", "도지코인", "doge"),
    "XRP": ("리플", "엑스알피", "ripple"),
    "SOL": ("솔라나", "솔"),
    "ADA": ("에이다", "카르다노", "cardano"),
    "ETC": ("이클", "이더리움클래식", "이더클"),
    "BCH": ("비캐", "비트코인캐시", "비트캐시"),
    "TRX": ("트론",),
    "LINK": ("링크", "체인링크"),
    "AVAX": ("아발", "아발란체", "아발란치"),
    "SHIB": ("시바", "시바이누"),
    "PEPE": ("페페",),
    "DOT": ("폴카닷", "폴카"),
    "SAND": ("샌드", "샌드박스"),
    "MATIC": ("폴리곤", "매틱"),
    "POL": ("폴리곤",),
    "SUI": ("수이",),
    "W": ("웜홀", "wormhole"),
    "STX": ("스택스",),
    "SEI": ("세이",),
    "USDT": ("테더", "tether"),
}

# Words that never name a coin in a question ("W코인 지금 어때?" → only "W코인" matters).
STOPWORDS = frozenset(
    """
    지금 어때 어때요 어떄 어떼 어떤가요 어떤지 시세 가격 얼마 얼마야 요즘 오늘 현재 코인 분석 전망
    알려줘 알려주세요 어떻게 됐어 돼 좀 해줘 정보 차트 호재 악재 왜 이렇게 올랐어 떨어졌어 상황
    그리고 랑 이랑 하고 또 괜찮아 살까 팔까 사도 될까 오를까 내릴까 거래량 급등 급락 추세
    대 와 과 는 은 이 가 를 을 도 에 의 요 해 줘 좀요 나 너 뭐 무엇
    how is are the what whats about price prices of now today doing tell me coin coins analysis analyze chart and or
    a an to for with right outlook why up down market markets news please check look looking at on in it its do does
    did buy sell should i you we show give summary brief trend vs versus compare hows going
    """.split()
)
# Korean particles and endings that stick to a name ("비트랑", "이더는", "도지코인이").
PARTICLES = (
    "이랑",
    "하고",
    "에서",
    "으로",
    "까지",
    "부터",
    "는요",
    "은요",
    "랑",
    "는",
    "은",
    "이",
    "가",
    "을",
    "를",
    "도",
    "과",
    "와",
    "의",
    "에",
    "요",
    "야",
    "로",
    "만",
)
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?[가-힣]*|[가-힣]+")
_CODE_RE = re.compile(r"^[A-Za-z]{2,5}-[A-Za-z0-9]{1,15}$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def _norm(text: str) -> str:
    """NFKC, lower case, no spaces or punctuation: the form every catalog key and query is compared in."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if ch.isalnum() or ch == "-")


def _jamo(text: str) -> str:
    """Hangul syllables split into jamo (NFD), so a one-letter typo costs one jamo, not a whole syllable."""
    return unicodedata.normalize("NFD", text)


@dataclass
class _Index:
    exact: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # key → [(code, matched_by)]
    fuzzy_keys: list[str] = field(default_factory=list)  # jamo form of names
    fuzzy_codes: list[str] = field(default_factory=list)

    def add(self, key: str, code: str, how: str) -> None:
        if key:
            bucket = self.exact.setdefault(key, [])
            if all(c != code for c, _ in bucket):
                bucket.append((code, how))


_indexes: dict[tuple[object, ...], _Index] = {}


def _index(catalog: Catalog) -> _Index:
    key = (id(catalog), catalog.fingerprint)
    found = _indexes.get(key)
    if found is not None:
        return found
    idx = _Index()
    for code, ref in catalog.refs.items():
        idx.add(_norm(code), code, "code")
        idx.add(_norm(ref.symbol), code, "symbol")
        for how, name in (("korean", ref.korean_name), ("english", ref.english_name)):
            n = _norm(name)
            idx.add(n, code, how)
            for suffix in ("코인", "coin"):
                # "도지코인" → "도지", "dogecoin" → "doge"; not "bitcoin" → "bit" (too short to mean one coin)
                if n.endswith(suffix) and len(n) - len(suffix) >= (2 if suffix == "코인" else 4):
                    idx.add(n[: -len(suffix)], code, how + "_short")
            if n and len(n) >= 2:
                idx.fuzzy_keys.append(_jamo(n))
                idx.fuzzy_codes.append(code)
        if len(ref.symbol) >= 3:
            idx.fuzzy_keys.append(ref.symbol.lower())
            idx.fuzzy_codes.append(code)
    symbols = {
        ref.symbol: [c for c, r in catalog.refs.items() if r.symbol == ref.symbol] for ref in catalog.refs.values()
    }
    for symbol, aliases in ALIASES.items():
        for code in symbols.get(symbol, []):
            for alias in aliases:
                idx.add(_norm(alias), code, "alias")
    _indexes.clear()
    _indexes[key] = idx
    return idx


def _preferred(codes: Iterable[str], catalog: Catalog) -> list[str]:
    """Distinct markets, one per base symbol (KRW first), listed ones before delisted."""
    best: dict[str, str] = {}
    for code in codes:
        ref = catalog.refs[code]
        current = best.get(ref.symbol)
        rank = (not ref.listed, quote_rank(code))
        if current is None or rank < (not catalog.refs[current].listed, quote_rank(current)):
            best[ref.symbol] = code
    return list(dict.fromkeys(best[catalog.refs[c].symbol] for c in codes))


def _variants(token: str) -> list[str]:
    """The token, without a trailing particle, without a 코인/coin suffix — most literal first."""
    out = [token]
    for p in PARTICLES:
        if token.endswith(p) and len(token) > len(p):
            out.append(token[: -len(p)])
    for t in list(out):
        for suffix in ("코인", "coin"):
            if t.endswith(suffix) and len(t) > len(suffix):
                out.append(t[: -len(suffix)])
    return list(dict.fromkeys(out))


def _lookup(idx: _Index, raw_token: str) -> tuple[list[str], str] | None:
    token = _norm(raw_token)
    for variant in _variants(token):
        hits = idx.exact.get(variant)
        if not hits:
            continue
        # A one-letter symbol ("W") only counts when written in capitals or with a 코인/coin suffix.
        if len(variant) == 1 and not (raw_token[:1].isupper() or token[1:3] == "코인" or token[1:5] == "coin"):
            continue
        codes = [c for c, _ in hits]
        return codes, hits[0][1]
    return None


def _tokens(text: str) -> list[str]:
    return _TOKEN_RE.findall(unicodedata.normalize("NFKC", text))


def _is_stopword(raw: str) -> bool:
    n = _norm(raw)
    if raw.isupper() and raw.isascii():
        return False  # "A", "UP" in capitals may be a symbol
    variants = _variants(n)
    return n in STOPWORDS or (len(variants) > 1 and variants[1] in STOPWORDS)


def _clean(text: str) -> str:
    return _CONTROL_RE.sub(" ", text)[:MAX_QUERY_CHARS]


def _fuzzy(idx: _Index, term: str, limit: int = 6) -> list[tuple[str, float]]:
    """(code, score) best first, one entry per market."""
    if not term or not idx.fuzzy_keys:
        return []
    found = process.extract(_jamo(term), idx.fuzzy_keys, scorer=fuzz.ratio, limit=limit * 3)
    out: dict[str, float] = {}
    for _key, score, pos in found:
        code = idx.fuzzy_codes[pos]
        out[code] = max(out.get(code, 0.0), float(score))
    return sorted(out.items(), key=lambda kv: -kv[1])[:limit]


def find_coins(conn: psycopg2.extensions.connection, question: str) -> list[MarketRef]:
    """Every coin named in a sentence, in order ("비트랑 이더 어때?" → [KRW-BTC, KRW-ETH]); [] when none."""
    catalog = load_catalog(conn)
    return _find(catalog, _index(catalog), _clean(question), fuzzy=True)


def find_in(catalog: Catalog, question: str) -> list[MarketRef]:
    """`find_coins` against an already loaded catalog (pure)."""
    return _find(catalog, _index(catalog), _clean(question), fuzzy=True)


def _find(catalog: Catalog, idx: _Index, text: str, *, fuzzy: bool) -> list[MarketRef]:
    tokens = _tokens(text)
    used = [False] * len(tokens)
    found: list[tuple[int, str]] = []
    for n in (3, 2, 1):
        for start in range(len(tokens) - n + 1):
            if any(used[start : start + n]):
                continue
            window = tokens[start : start + n]
            if n == 1 and _is_stopword(window[0]):
                continue
            hit = _lookup(idx, "".join(window)) if n > 1 else _lookup(idx, window[0])
            if hit:
                found.append((start, _preferred(hit[0], catalog)[0]))
                for k in range(start, start + n):
                    used[k] = True
    if fuzzy:
        for i, tok in enumerate(tokens):
            norm = _norm(tok)
            if used[i] or _is_stopword(tok) or len(norm) < (2 if not norm.isascii() else 4):
                continue
            best = _fuzzy(idx, max(_variants(norm), key=len))
            if best and best[0][1] >= FIND_FUZZY_ACCEPT and (len(best) < 2 or best[0][1] - best[1][1] >= FUZZY_MARGIN):
                found.append((i, best[0][0]))
                used[i] = True
    ordered = list(dict.fromkeys(code for _, code in sorted(found)))
    return [catalog.refs[c] for c in _preferred(ordered, catalog)]


def resolve(conn: psycopg2.extensions.connection, text: str) -> Resolution:
    """One market from free text; ambiguous → candidates, unknown → closest suggestions. Never raises on input."""
    catalog = load_catalog(conn)
    return resolve_in(catalog, text)


def resolve_in(catalog: Catalog, text: str) -> Resolution:
    """`resolve` against an already loaded catalog (pure; used by tests and by callers that hold a catalog)."""
    query = text if isinstance(text, str) else str(text)
    if len(query) > MAX_QUERY_CHARS:
        return Resolution(query=query[:80], status="not_found", message=f"query longer than {MAX_QUERY_CHARS} chars")
    cleaned = _clean(query).strip()
    if not cleaned or not catalog.refs:
        msg = "empty query" if not cleaned else "the market catalog is empty (run ingest to load it)"
        return Resolution(query=query, status="not_found", message=msg)
    idx = _index(catalog)
    refs = catalog.refs
    # 1. an exact market code
    if _CODE_RE.match(cleaned) and cleaned.upper() in refs:
        return Resolution(query=query, status="found", market=refs[cleaned.upper()], matched_by="code")
    # 2. the whole text as one name ("Bitcoin Cash", "이더리움 클래식")
    words = [t for t in _tokens(cleaned) if not _is_stopword(t)]
    if words:
        hit = _lookup(idx, "".join(words))
        if hit:
            codes = _preferred(hit[0], catalog)
            if len(codes) == 1:
                return Resolution(query=query, status="found", market=refs[codes[0]], matched_by=hit[1])
            return _ambiguous(query, [refs[c] for c in codes])
    # 3. coins named anywhere in the sentence
    named = _find(catalog, idx, cleaned, fuzzy=False)
    if len(named) == 1:
        return Resolution(query=query, status="found", market=named[0], matched_by="name")
    if len(named) > 1:
        return _ambiguous(query, named, "several coins named")
    # 4. a prefix of a name ("bit", "이더리") — unique → found, several → ambiguous
    terms = [_norm(w) for w in words if len(_norm(w)) >= 2]
    for term in terms:
        prefixed = [
            c for c, r in refs.items() if any(_norm(n).startswith(term) for n in (r.korean_name, r.english_name) if n)
        ]
        codes = _preferred(prefixed, catalog)
        if len(codes) == 1 and len(term) >= 3:
            return Resolution(query=query, status="found", market=refs[codes[0]], matched_by="prefix")
        if len(codes) > 1 and len(term) >= 2:
            return _ambiguous(query, [refs[c] for c in codes[:8]])
    # 5. typos
    candidates = terms + ([_norm("".join(words))] if len(words) > 1 else [])
    scored: dict[str, float] = {}
    for term in candidates:
        for variant in _variants(term)[:3]:
            for code, score in _fuzzy(idx, variant):
                scored[code] = max(scored.get(code, 0.0), score)
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1], quote_rank(kv[0])))
    ranked_codes = _preferred([c for c, _ in ranked], catalog)
    best_score = {c: s for c, s in ranked}
    if ranked_codes:
        top = ranked_codes[0]
        second = best_score.get(ranked_codes[1], 0.0) if len(ranked_codes) > 1 else 0.0
        if best_score[top] >= FUZZY_ACCEPT and best_score[top] - second >= FUZZY_MARGIN:
            return Resolution(query=query, status="found", market=refs[top], matched_by="fuzzy")
    suggestions = [refs[c] for c in ranked_codes if best_score.get(c, 0.0) >= FUZZY_SUGGEST][:3]
    return Resolution(
        query=query,
        status="not_found",
        suggestions=suggestions,
        message="no market matches" + (" — did you mean one of these?" if suggestions else ""),
    )


def _ambiguous(query: str, refs: list[MarketRef], why: str = "several markets match") -> Resolution:
    return Resolution(query=query, status="ambiguous", candidates=refs, message=why)


def resolve_market(conn: psycopg2.extensions.connection, text: str) -> MarketRef:
    """The one market `text` names, or LookupError with a message fit for a user (candidates/suggestions)."""
    res = resolve(conn, text)
    if res.status == "found" and res.market is not None:
        return res.market
    raise LookupError(describe_failure(res))


def describe_failure(res: Resolution) -> str:
    refs = res.candidates if res.status == "ambiguous" else res.suggestions
    names = ", ".join(r.label() for r in refs[:5])
    # The query is not echoed: callers show this to users and MCP clients, whatever they typed.
    if res.status == "ambiguous":
        return f"several markets match: {names} — name one"
    return "no market matches that name" + (f"; closest: {names}" if names else "")
