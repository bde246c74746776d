urlpatterns: list = [
    # filled by the usage ingest API
]
