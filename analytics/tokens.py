"""Token counting: the offline Claude BPE (`anthropic-tokenizer`), or the API's count_tokens when a key is set."""

from __future__ import annotations

import logging
from functools import lru_cache

import anthropic_tokenizer

log = logging.getLogger(__name__)


@lru_cache(maxsize=512)
def count_tokens(text: str) -> int:
    """Tokens in `text` by the offline Claude BPE (an estimate of the real count; deterministic, no network).

    Cached: a context is counted when it is fitted to its budget and again when a tool reports its size.
    """
    if not text:
        return 0
    return int(anthropic_tokenizer.count_tokens(text))


@lru_cache(maxsize=1)
def tokenizer_name() -> str:
    return f"anthropic-tokenizer (offline BPE, vocab {anthropic_tokenizer.vocab_size()})"


def count_tokens_api(text: str, *, api_key: str, model: str, base_url: str = "", timeout: float = 10.0) -> int | None:
    """The real count from Anthropic's count_tokens endpoint; None when the call fails (caller falls back)."""
    try:
        # Here, not at module top: the SDK takes ~0.5 s to import and is needed only with an API key, while
        # every analytics reader (MCP, dashboard, CLI) imports this module for the offline count.
        import anthropic

        kwargs: dict[str, object] = {"api_key": api_key, "timeout": timeout, "max_retries": 0}
        if base_url:
            kwargs["base_url"] = base_url
        client = anthropic.Anthropic(**kwargs)  # type: ignore[arg-type]
        result = client.messages.count_tokens(model=model, messages=[{"role": "user", "content": text}])
        return int(result.input_tokens)
    except Exception as exc:  # noqa: BLE001 - any API failure means "use the offline count"
        log.warning("count_tokens API failed, using offline tokenizer error=%s", type(exc).__name__)
        return None
