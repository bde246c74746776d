"""Secrets at rest and in memory: ciphertext in the column, values never printable, redaction."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
from django.core import serializers as django_serializers
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from wedsync_integrations.integrations.errors import ConfigurationError
from wedsync_integrations.integrations.secrets import MASK, SecretBag, decrypt_json, encrypt_json, redact

pytestmark = pytest.mark.django_db

API_KEY = "live-api-key-5f1c0ffee"
SLACK_URL = "https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx"


@pytest.fixture
def config(fake_provider, make_config, organisation):
    return make_config("monitoring", organisation, "fake", secrets={"api_key": API_KEY, "webhook_url": SLACK_URL})


def test_the_database_column_holds_ciphertext_not_plaintext(config):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {config._meta.db_table} WHERE id = %s", [config.pk])
        (stored,) = cursor.fetchone()
    assert API_KEY not in stored and "api_key" not in stored and "hooks.slack.com" not in stored
    assert stored.startswith("gAAAAA")  # a Fernet token
    assert decrypt_json(stored) == {"api_key": API_KEY, "webhook_url": SLACK_URL}

    reloaded = type(config).objects.get(pk=config.pk)
    assert isinstance(reloaded.secrets, SecretBag) and reloaded.secrets["api_key"] == API_KEY


def test_serialising_a_config_dumps_ciphertext(config):
    dumped = django_serializers.serialize("json", [config])
    assert API_KEY not in dumped and "hooks.slack.com" not in dumped


def test_each_encryption_is_fresh_so_equal_secrets_are_not_linkable():
    assert encrypt_json({"api_key": API_KEY}) != encrypt_json({"api_key": API_KEY})


def test_a_secret_bag_never_prints_its_values(caplog):
    bag = SecretBag(api_key=API_KEY, webhook_url=SLACK_URL)
    for text in (repr(bag), str(bag), f"{bag!r:>10}", repr([bag]), repr({"secrets": bag})):
        assert API_KEY not in text and SLACK_URL not in text
    assert repr(bag) == "SecretBag(api_key=***, webhook_url=***)"
    with caplog.at_level(logging.INFO):
        logging.getLogger("wedsync.test").info("config secrets: %s", bag)
    assert API_KEY not in caplog.text
    assert bag.redacted() == {"api_key": MASK, "webhook_url": MASK}


def test_values_to_hide_include_the_path_of_url_secrets():
    bag = SecretBag(api_key=API_KEY, webhook_url=SLACK_URL, blank="", port=8443)
    hidden = bag.values_to_hide()
    assert API_KEY in hidden and SLACK_URL in hidden
    assert "/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx" in hidden  # where the credential is
    assert "" not in hidden and "8443" in hidden


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("rejected key live-api-key-5f1c0ffee!", [API_KEY], "rejected key ***!"),
        ("twice: abcd1234 and abcd1234", ["abcd1234"], "twice: *** and ***"),
        # the longer secret wins where one contains the other, so no tail of it is left
        ("token abcd1234-extended", ["abcd1234", "abcd1234-extended"], "token ***"),
        ("regex chars a+b(c)*", ["a+b(c)*"], "regex chars ***"),
        ("too short to be a secret: abc", ["abc", ""], "too short to be a secret: abc"),
        ("", [API_KEY], ""),
    ],
)
def test_redact(text, secrets, expected):
    assert redact(text, secrets) == expected


ESCAPED_SLACK_URL = SLACK_URL.replace("/", "\\/")  # what a JSON encoder that escapes slashes writes


@pytest.mark.parametrize(
    ("text", "form"),
    [
        (f'{{"error": "no_service", "url": "{ESCAPED_SLACK_URL}"}}', "JSON-escaped slashes"),
        (
            "bad callback " + quote(SLACK_URL, safe=""),
            "URL-encoded",
        ),
        (
            "bad callback https%3a%2f%2fhooks.slack.com%2fservices%2ft0aaaaaaa%2fb0bbbbbbb%2fabcdefghijklmnopqrstuvwx",
            "URL-encoded, lower-case escapes and text",
        ),
        ("path=%2Fservices%2FT0AAAAAAA%2FB0BBBBBBB%2Fabcdefghijklmnopqrstuvwx", "the URL-encoded path alone"),
        ("path \\/services\\/T0AAAAAAA\\/B0BBBBBBB\\/abcdefghijklmnopqrstuvwx", "the escaped path alone"),
        (f"INVALID KEY {API_KEY.upper()}", "upper-cased"),
        (f"Invalid key {API_KEY.title()}", "title-cased"),
        (f"key={API_KEY.replace('-', '%2D')}", "every character escaped that may be"),
        ('{"key": "live-api-key-5f1c0ffee"}'.replace("-", "\\u002d"), "JSON unicode escapes"),
    ],
    ids=lambda value: value if len(value) < 45 else None,
)
def test_redact_hides_the_forms_a_vendor_may_echo_a_secret_in(text, form):
    """Issue 14, item 6: a vendor echoing a secret escaped, URL-encoded or in another case left it
    in clear in last_error, the sync log and worker logs."""
    hidden = SecretBag(api_key=API_KEY, webhook_url=SLACK_URL).values_to_hide()

    redacted = redact(text, hidden)

    assert MASK in redacted, form
    for fragment in ("abcdefghijklmnopqrstuvwx", "5f1c0ffee", "5F1C0FFEE", "B0BBBBBBB", "b0bbbbbbb"):
        assert fragment not in redacted, (form, redacted)


def test_a_ciphertext_no_key_opens_gives_an_error_without_the_ciphertext(settings):
    token = encrypt_json({"api_key": API_KEY})
    settings.FIELD_ENCRYPTION_KEYS = ["Y2xlYXJseS1hLWRpZmZlcmVudC1rZXktMDAwMDAwMDA="]
    with pytest.raises(ImproperlyConfigured) as caught:
        decrypt_json(token)
    assert token not in str(caught.value) and "FIELD_ENCRYPTION_KEYS" in str(caught.value)


def test_a_missing_secret_is_a_configuration_error_naming_only_the_key(fake_provider, make_config, organisation):
    provider = make_config("monitoring", organisation, "fake", secrets={"other": API_KEY}).get_provider()
    with pytest.raises(ConfigurationError, match="secret 'api_key' is not set") as caught:
        provider.secret("api_key")
    assert caught.value.stops_config and API_KEY not in str(caught.value)
