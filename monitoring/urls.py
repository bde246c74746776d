from django.urls import path

from . import views

urlpatterns = [
    path("metrics/ai", views.ai_metrics, name="monitoring-ai-metrics"),
    path("metrics/ai/<slug:org_slug>", views.ai_metrics, name="monitoring-ai-metrics-org"),
]
