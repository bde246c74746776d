from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from wedsync_integrations.core import views as core_views

admin.site.site_header = "WedSync Integrations"
admin.site.site_title = "WedSync Integrations"
admin.site.index_title = "Operations"
# the index leads with the way to the operations dashboard (wedsync_integrations/console)
admin.site.index_template = "console/admin_index.html"

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("metrics", core_views.metrics_view, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="openapi-schema"),
    path("api/v1/", include("wedsync_integrations.usage.urls")),
    path("api/webhooks/ai-integrations/", include("webhooks.urls")),
    path("integrations/", include("wedsync_integrations.integrations.urls")),
    path("", include("monitoring.urls")),  # /metrics/ai
    path("admin/console/", include("wedsync_integrations.console.urls")),
    path("admin/", admin.site.urls),
]
