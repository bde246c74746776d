"""Routes the sandbox tests load into their own sandbox process (`--routes tests.sandbox.routes_for_tests`):
a vendor at /testvendor with fixed and computed replies."""

import threading

from wedsync_integrations.sandbox.routes import Reply, on_reset, route

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


_notes: list[str] = []
_notes_lock = threading.Lock()


@route("POST", "/testvendor/notes")
def add_note(request):
    """A stateful fake: each note gets the next number, like a vendor's object ids."""
    with _notes_lock:
        _notes.append(request.text())
        return Reply(201, json={"id": len(_notes)})


@route("GET", "/testvendor/notes")
def list_notes(request):
    with _notes_lock:
        return Reply(200, json={"notes": list(_notes)})


@on_reset
def _forget_notes():
    with _notes_lock:
        _notes.clear()
