"""SMS segments: GSM-7 160/153, UCS-2 70/67, extension characters count double; trimming."""

import pytest

from alerts import sms_text


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters take two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("[~]" * 10, "GSM-7", 60, 1),
        ("é" * 160, "GSM-7", 160, 1),  # é is in the basic GSM-7 table
        ("a" * 69 + "ł", "UCS-2", 70, 1),  # one non-GSM character switches the whole message
        ("a" * 70 + "ł", "UCS-2", 71, 2),
        ("a" * 134, "GSM-7", 134, 1),
        ("😀" * 35, "UCS-2", 70, 1),  # an emoji is two UTF-16 units
        ("😀" * 36, "UCS-2", 72, 2),
        ("", "GSM-7", 0, 0),
    ],
)
def test_segment_count(text, encoding, units, segments):
    assert sms_text.count(text) == sms_text.SegmentCount(encoding, units, segments)


def test_smart_punctuation_is_normalised_before_counting():
    text = "Wedding\u2019s timeline \u2014 AI \u201cdown\u201d\u2026"
    assert sms_text.fit(text, 1) == 'Wedding\'s timeline - AI "down"...'
    assert sms_text.count(sms_text.fit(text, 1)).encoding == "GSM-7"


@pytest.mark.parametrize("max_segments", [1, 2, 3])
def test_long_gsm_text_is_trimmed_to_the_segment_budget(max_segments):
    fitted = sms_text.fit("word " * 200, max_segments)
    assert sms_text.count(fitted).segments == max_segments
    assert fitted.endswith("...")
    assert len(fitted) == (160 if max_segments == 1 else 153 * max_segments)


def test_long_unicode_text_is_trimmed_by_ucs2_rules_without_splitting_an_emoji():
    fitted = sms_text.fit("Ślub 😀 " * 40, 2)
    count = sms_text.count(fitted)
    assert count.encoding == "UCS-2" and count.segments == 2 and count.units <= 134
    fitted.encode("utf-8")  # no lone surrogate


def test_extension_characters_are_budgeted_double():
    fitted = sms_text.fit("€" * 200, 1)
    assert sms_text.count(fitted).units <= 160 and fitted == "€" * 78 + "..."


def test_short_text_is_untouched_and_bad_budget_refused():
    assert sms_text.fit("Payments AI down", 1) == "Payments AI down"
    with pytest.raises(ValueError):
        sms_text.fit("x", 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Ślub w Łodzi", "Slub w Lodzi"),  # Ś loses its accent; ł has no decomposition: a look-alike
        ("café Müller Ångström", "café Müller Ångström"),  # already GSM-7: untouched
        ("garçon “down”", 'garcon "down"'),  # ç is not GSM-7 (only Ç is); smart quotes normalised
        ("Gallery 😀 down", "Gallery ? down"),  # nothing stands in for an emoji
    ],
)
def test_to_gsm7_keeps_what_it_can_of_each_character(text, expected):
    assert sms_text.to_gsm7(text) == expected
    assert sms_text.is_gsm7(sms_text.to_gsm7(text))
