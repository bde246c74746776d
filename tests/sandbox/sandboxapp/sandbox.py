from wedsync_integrations.sandbox.routes import route

route("GET", "/discovered/api/status", json={"discovered": True})
