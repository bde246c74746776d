"""`python -m drill` (or `make drill`): run every fault against the real processes and print the
table; exit 1 if anything was lost, doubled beyond the sends in flight, or not recovered.

    python -m drill                 every fault
    python -m drill web outages     some of them (names below)
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
import traceback

from .report import Row, table
from .stack import RUN, running

FAULTS = ["web", "poison", "flood", "outages", "cache", "broker", "worker"]


def _scenarios() -> dict:
    # Imported once Django is set up on the drill's own database: they use the models.
    from . import dependencies, ingest, outages, webhooks, workers

    return {
        "web": ingest.web_faults,
        "poison": ingest.poison_records,
        "flood": webhooks.forged_flood,
        "outages": outages.vendor_outages,
        "cache": dependencies.cache_at_a_dead_port,
        "broker": dependencies.broker_at_a_dead_port,
        "worker": workers.worker_killed_mid_drain,  # last: it leaves the successor as the only worker
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m drill", description=__doc__.splitlines()[0])
    parser.add_argument("faults", nargs="*", metavar="FAULT", help=f"any of {', '.join(FAULTS)} (default: all)")
    chosen = parser.parse_args(argv).faults or FAULTS
    # A CI timeout sends SIGTERM: exit through the context managers, so the processes stop and the
    # drill's database is dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    unknown = sorted(set(chosen) - set(FAULTS))
    if unknown:
        parser.error(f"unknown fault(s): {', '.join(unknown)}; choose from {', '.join(FAULTS)}")
    started = time.monotonic()
    with running() as stack:
        print(f"drill {RUN} on the {stack.backend}: web {stack.web.base}, sandbox {stack.sandbox.url}", flush=True)
        scenarios = _scenarios()
        rows: list[Row] = []
        for name in (fault for fault in FAULTS if fault in chosen):
            rows.extend(_run(name, scenarios[name], stack))
    print(f"\ndrill {RUN}: {stack.backend}, {time.monotonic() - started:.0f} s\n")
    print(table(rows))
    failed = any(row.failures() for row in rows)
    print("\nFAILED" if failed else "\nall held: nothing lost, nothing doubled beyond the sends in flight")
    return 1 if failed else 0


def _run(name: str, scenario, stack) -> list[Row]:
    print(f"-- {name}", flush=True)
    begun = time.monotonic()
    try:
        rows = scenario(stack)
    except Exception as exc:  # one broken fault must not hide the others' results
        traceback.print_exc()
        rows = [Row(name, problems=[f"crashed: {type(exc).__name__}: {exc}"])]
    print(f"   {time.monotonic() - begun:.0f} s", flush=True)
    return rows


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
