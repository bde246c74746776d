#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
    if os.environ.get("DJANGO_ENV") != "production":
        # the embedded default's var/ folders and per-checkout secrets (settings only read them)
        from wedsync_integrations.core.local_files import prepare

        prepare()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
