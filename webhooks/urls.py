from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("<slug:source>/", views.PlatformWebhookView.as_view(), name="platform"),
    path("<slug:source>/<slug:org_slug>/", views.OrganisationWebhookView.as_view(), name="organisation"),
]
