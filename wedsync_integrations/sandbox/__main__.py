"""Run the vendor sandbox: `python -m wedsync_integrations.sandbox [--host 127.0.0.1] [--port 8900]`.

Loads the project's settings, every installed app's `sandbox` module (the families' fake vendor
endpoints) and any --routes module, then serves until interrupted. Prints one line
"WEDSYNC SANDBOX READY http://127.0.0.1:<port>" on stdout once it accepts requests
(--port 0 picks a free port; the line says which).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .server import NotLoopbackError, SandboxHTTPServer, serve


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wedsync_integrations.sandbox", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8900, help="port (0 = any free port; default 8900)")
    parser.add_argument(
        "--routes", action="append", default=[], metavar="MODULE", help="extra module declaring routes (repeatable)"
    )
    parser.add_argument("--quiet", action="store_true", help="no access log on stderr")
    parser.add_argument(
        "--exit-with-parent", action="store_true", help="stop when stdin reaches EOF (the parent process is gone)"
    )
    return parser.parse_args(argv)


def load_routes(extra_modules: list[str]) -> None:
    import django
    from django.utils.module_loading import autodiscover_modules

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
    django.setup()
    autodiscover_modules("sandbox")
    for module in extra_modules:
        importlib.import_module(module)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # bind before spending a second on Django set-up: a refused host or a busy port fails fast,
        # and nothing is answered before the routes are loaded (connections wait in the backlog)
        server = SandboxHTTPServer(args.host, args.port, quiet=args.quiet)
    except NotLoopbackError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    load_routes(args.routes)
    serve(server, exit_with_parent=args.exit_with_parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
