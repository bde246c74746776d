"""One module per CRM vendor; importing them registers them on the crm family."""

from . import honeybook, lightblue, tave  # noqa: F401
