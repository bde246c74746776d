"""Routes the sandbox tests load into their own sandbox process (`--routes tests.sandbox.routes_for_tests`):
a vendor at /testvendor with fixed and computed replies."""

from wedsync_integrations.sandbox.routes import Reply, route

route("POST", "/testvendor/api/v1/items", status=202, json={"accepted": True})
route("GET", "/testvendor/api/v1/ping", body="pong", headers={"X-Vendor": "test"})


@route("POST", r"/testvendor/accounts/(?P<account>AC\w+)/messages")
def create_message(request):
    form = request.form()
    return Reply(201, json={"sid": "SM" + request.id_hex, "account": request.match["account"], "to": form["To"]})


@route("POST", "/testvendor/echo")
def echo(request):
    return Reply(200, json={"received": request.json(), "encoding": request.headers.get("Content-Encoding", "")})


@route("GET", "/testvendor/broken")
def broken(request):
    raise KeyError("missing")
