"""Turn an openai or anthropic SDK exception into one of our errors.

Both SDKs share the same exception names and shape (status code, response, JSON body), so one
translation serves both; the SDK module is passed in so neither is imported here.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

from mlr_copilot.llm.base import LLMError, RateLimitedError, TransientLLMError
from mlr_copilot.llm.redaction import redact


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or an HTTP date)."""
    if not headers:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # only a Retry-After given as a date needs it; `status` reads this module's provider

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
        if body.get("message"):
            return str(body["message"])
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return str(getattr(exc, "message", None) or exc)


def _error_code(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            return str(inner.get("code") or inner.get("type") or "")
    return ""


def translate(
    exc: Exception,
    sdk: ModuleType,
    *,
    provider: str,
    model: str,
    where: str,
    key_variable: str,
    secrets: Iterable[str] = (),
) -> LLMError:
    """The error to raise for `exc`; `where` names the endpoint for the message."""
    secrets = tuple(secrets)

    def clean(text: str) -> str:
        return redact(text, extra=secrets)

    if isinstance(exc, sdk.APITimeoutError):
        return TransientLLMError(f"{provider}: request to {where} timed out")
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        detail = f" ({clean(str(cause))})" if cause else ""
        return TransientLLMError(f"{provider}: could not connect to {where}{detail}")
    if not isinstance(exc, sdk.APIStatusError):
        return LLMError(clean(f"{provider}: {type(exc).__name__}: {exc}"))

    status = exc.status_code
    message = clean(_server_message(exc))
    code = _error_code(exc)
    retry_after = parse_retry_after(getattr(exc.response, "headers", None))
    if status == 429:
        if code == "insufficient_quota":
            return LLMError(f"{provider}: the account behind {key_variable} has no quota left: {message}")
        return RateLimitedError(f"{provider}: rate limited by {where}: {message}", retry_after=retry_after)
    if status in (408, 409) or status >= 500:
        return TransientLLMError(f"{provider}: {where} answered HTTP {status}: {message}", retry_after=retry_after)
    if status == 401:
        return LLMError(f"{provider}: the API key in {key_variable} was rejected by {where} (HTTP 401): {message}")
    if status == 403:
        return LLMError(f"{provider}: the API key in {key_variable} may not use model '{model}' (HTTP 403): {message}")
    if status == 404:
        return LLMError(
            f"{provider}: model '{model}' was not found at {where} (HTTP 404): {message}. "
            "Set another with the llm.model setting, MLR_MODEL or --model (and llm.baseUrl for a local server)."
        )
    return LLMError(f"{provider}: {where} refused the request (HTTP {status}): {message}")
