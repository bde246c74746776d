from . import freshbooks, quickbooks, xero  # noqa: F401  (each registers itself on the family)
