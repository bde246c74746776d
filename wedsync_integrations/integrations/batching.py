"""Batching for vendors with payload limits: pack by size up front, split on 413 at send time.

    batches = pack(series, size_of=estimated_bytes, budget=500_000)
    send_in_parts(elements, send=post_series, payload_of=lambda part: {"series": part})

`pack` keeps order and never exceeds the budget (an element larger than the budget travels
alone; the vendor's 413 then triggers the split path). `send_in_parts` sends the elements,
halving any part the vendor rejects as too large; if a later part fails after earlier parts
went out, the error carries both sides as payloads (IntegrationError.unsent_payload and
sent_payload), so the outbox retries only the unsent elements, nothing is delivered twice, and
the delivered ones stay on record.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .errors import IntegrationError, PayloadTooLarge

T = TypeVar("T")


def pack(elements: Sequence[T], *, size_of: Callable[[T], int], budget: int, separator: int = 1) -> list[list[T]]:
    """Split `elements` (in order) into consecutive lists whose summed size stays within budget."""
    batches: list[list[T]] = []
    current: list[T] = []
    used = 0
    for element in elements:
        size = size_of(element) + (separator if current else 0)
        if current and used + size > budget:
            batches.append(current)
            current, used = [], 0
            size = size_of(element)
        current.append(element)
        used += size
    if current:
        batches.append(current)
    return batches


def send_in_parts(
    elements: list[T],
    *,
    send: Callable[[list[T]], Any],
    payload_of: Callable[[list[T]], Any],
    whole_too_large: bool = False,
) -> list[Any]:
    """Send `elements` as one part, halving parts the vendor answers 413 to. Returns each part's
    result in order. On failure after a partial delivery, the raised error's unsent_payload is
    payload_of(<elements not yet delivered>) and its sent_payload payload_of(<elements
    delivered>). With whole_too_large (the caller already had a 413 for all of them) it starts
    with the two halves."""
    pending: list[list[T]] = [list(elements)] if elements else []
    if whole_too_large and len(elements) > 1:
        middle = len(elements) // 2
        pending = [list(elements[:middle]), list(elements[middle:])]
    results: list[Any] = []
    delivered: list[T] = []
    while pending:
        part = pending.pop(0)
        try:
            results.append(send(part))
        except PayloadTooLarge as exc:
            if len(part) > 1:
                middle = len(part) // 2
                pending[:0] = [part[:middle], part[middle:]]
                continue
            _attach_parts(exc, delivered, [part, *pending], payload_of)
            raise
        except IntegrationError as exc:
            _attach_parts(exc, delivered, [part, *pending], payload_of)
            raise
        delivered.extend(part)
    return results


def _attach_parts(exc, delivered, unsent_chunks, payload_of) -> None:
    if delivered:  # something already went out: keep only the rest for the retry, and say what went
        exc.unsent_payload = payload_of([element for chunk in unsent_chunks for element in chunk])
        exc.sent_payload = payload_of(delivered)
