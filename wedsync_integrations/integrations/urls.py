from django.urls import path

from . import connect

app_name = "integrations"

urlpatterns = [
    path("oauth/callback/", connect.callback, name="oauth-callback"),
    path("oauth/choose/<str:ref>/", connect.choose, name="oauth-choose"),
]
