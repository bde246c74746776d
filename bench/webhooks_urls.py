"""The project's URLs plus /bench/bare: a Django view that reads the body and returns 200,
served by the same gunicorn, middleware and settings as the webhook endpoint."""

from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from wedsync_integrations.urls import urlpatterns as project_urlpatterns


@csrf_exempt
def bare(request):
    request.body  # noqa: B018  (read the body, as the webhook endpoint must)
    return HttpResponse(status=200)


urlpatterns = [path("bench/bare", bare), *project_urlpatterns]
