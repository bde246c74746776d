from django.urls import path

from .views import UsageIngestView

urlpatterns: list = [
    path("usage/", UsageIngestView.as_view(), name="usage-ingest"),
]
