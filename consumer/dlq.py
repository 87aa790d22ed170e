"""Pure: the headers of a dead-letter record (docs/architecture.md, ``transactions.dlq``).

The DLQ record keeps the original key and bytes untouched so it can be replayed once the cause is
fixed; everything needed to find and judge it travels in headers, as UTF-8 strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

#: Longest ``dlq.error`` text; a parser's message may quote the whole payload back.
MAX_ERROR_CHARS = 1000


def dlq_headers(
    error: str,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    failed_at: datetime | None = None,
) -> list[tuple[str, bytes]]:
    """Headers ``dlq.error``, ``dlq.stage``, ``dlq.topic``, ``dlq.partition``, ``dlq.offset``, ``dlq.failed_at``."""
    when = (failed_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    if len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 3] + "..."
    return [
        ("dlq.error", error.encode("utf-8", "replace")),
        ("dlq.stage", stage.encode()),
        ("dlq.topic", topic.encode("utf-8", "replace")),
        ("dlq.partition", str(partition).encode()),
        ("dlq.offset", str(offset).encode()),
        ("dlq.failed_at", when.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode()),
    ]


def headers_dict(headers: Sequence[tuple[str, Any]] | None) -> dict[str, str]:
    """Decoded header map (tests and tools reading the DLQ)."""
    return {
        k: (v or b"").decode("utf-8", "replace") if isinstance(v, bytes | None) else str(v) for k, v in (headers or [])
    }
