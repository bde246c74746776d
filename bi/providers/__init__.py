from . import looker, powerbi, tableau  # noqa: F401  (each registers itself on the family)
