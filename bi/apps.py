from django.apps import AppConfig


class BIAppConfig(AppConfig):
    name = "bi"
    label = "bi"
    verbose_name = "BI exports (executive metrics)"

    def ready(self):
        from wedsync_integrations.integrations.registry import register_family

        from . import (
            providers,  # noqa: F401  (vendor modules register themselves)
            receivers,  # noqa: F401  (refresh after each rollup)
            sync,  # noqa: F401  (registers the family's sync handler)
        )
        from .family import FAMILY

        register_family(FAMILY)
