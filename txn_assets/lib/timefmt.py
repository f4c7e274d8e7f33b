"""Detection timestamps are shown in India Standard Time, as the output format requires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

IST = timezone(timedelta(hours=5, minutes=30), "IST")


def format_ist(moment: datetime) -> str:
    """ISO-8601 with millisecond precision and the +05:30 offset, e.g. 2026-11-26T23:59:59.123+05:30."""
    if moment.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware datetime")
    return moment.astimezone(IST).isoformat(timespec="milliseconds")


def utc_now() -> datetime:
    """The clock the engine stamps detections with (aware, UTC)."""
    return datetime.now(UTC)
