"""One module per monitoring vendor; importing them registers them on the family."""

from . import datadog, newrelic, prometheus  # noqa: F401
