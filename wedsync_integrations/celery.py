"""The Celery application: settings come from Django's (CELERY_ namespace), tasks from every app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")

app = Celery("wedsync_integrations")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
