"""SMS segment arithmetic (GSM 03.38) and trimming a text to a bounded number of segments.

GSM-7: 160 septets in one segment, 153 per segment when split (the rest is the UDH). The
extension characters ^{}\\[~]|€ cost two septets (escape + char). Any character outside GSM-7
switches the whole message to UCS-2: 70 characters in one segment, 67 per segment when split
(counted in UTF-16 code units, so an emoji costs two).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")

GSM7_SINGLE, GSM7_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67

# Look-alikes we swap before counting, so a smart quote does not turn a 1-segment alert into 3.
REPLACEMENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2022": "-",
    "\u00b7": "-",
    "\u2192": "->",
}


# Letters NFKD cannot take apart into a GSM-7 letter plus an accent.
GSM7_FALLBACKS = {"ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "œ": "oe", "Œ": "OE", "ı": "i"}


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _units(text: str, gsm: bool) -> int:
    if gsm:
        return sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def count(text: str) -> SegmentCount:
    gsm = is_gsm7(text)
    units = _units(text, gsm)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    if units <= single:
        segments = 1 if units else 0
    else:
        segments = -(-units // multi)
    return SegmentCount("GSM-7" if gsm else "UCS-2", units, segments)


def normalise(text: str) -> str:
    for fancy, plain in REPLACEMENTS.items():
        text = text.replace(fancy, plain)
    return " ".join(text.split())  # newlines and runs of spaces cost segments and say nothing


def to_gsm7(text: str) -> str:
    """The text in GSM-7 only, so it keeps the 160-character segment: characters outside the
    alphabet lose their accent (Ś → S), take a plain look-alike (ł → l), or become '?'."""
    text = normalise(text)
    return "".join(ch if is_gsm7(ch) else _gsm7_stand_in(ch) for ch in text)


def _gsm7_stand_in(ch: str) -> str:
    if ch in GSM7_FALLBACKS:
        return GSM7_FALLBACKS[ch]
    base = "".join(part for part in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(part))
    return base if base and is_gsm7(base) else "?"


def fit(text: str, max_segments: int) -> str:
    """The text, normalised, and cut (with '...') to fit `max_segments` segments."""
    if max_segments < 1:
        raise ValueError("max_segments must be at least 1")
    text = normalise(text)
    if count(text).segments <= max_segments:
        return text
    gsm = is_gsm7(text)
    single, multi = (GSM7_SINGLE, GSM7_MULTI) if gsm else (UCS2_SINGLE, UCS2_MULTI)
    budget = single if max_segments == 1 else multi * max_segments
    ellipsis = "..."
    budget -= _units(ellipsis, gsm)
    kept, used = [], 0
    for ch in text:
        cost = _units(ch, gsm)
        if used + cost > budget:
            break
        kept.append(ch)
        used += cost
    # Characters are whole code points, so an emoji (two UTF-16 units) is never split in half.
    return "".join(kept).rstrip() + ellipsis
