"""One module per inbound source; importing them registers them on the webhooks family."""

from . import (  # noqa: F401
    datadog,
    freshbooks,
    generic,
    honeybook,
    newrelic,
    pagerduty,
    quickbooks,
    slack,
    tave,
    twilio,
    xero,
)
