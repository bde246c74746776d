from django.urls import re_path

from .views import UsageIngestView

urlpatterns: list = [
    # Both spellings: APPEND_SLASH cannot redirect a POST (DEBUG raises, otherwise the client
    # follows the 301 as a GET and its batch is lost), and a client that drops the slash is common.
    re_path(r"^usage/?$", UsageIngestView.as_view(), name="usage-ingest"),
]
