"""Run the benchmarks: `python -m bench` (all), `python -m bench ingest rollup` (some), or
`python -m bench rollup --sizes 20000 80000` (one, with its own options)."""

import importlib
import pkgutil
import sys
import time

import bench


def available() -> list[str]:
    return sorted(
        info.name.removeprefix("bench_")
        for info in pkgutil.iter_modules(bench.__path__)
        if info.name.startswith("bench_")
    )


def main(argv: list[str]) -> int:
    first_option = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    names, options = argv[:first_option] or available(), argv[first_option:]
    unknown = sorted(set(names) - set(available()))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available())}")
        return 2
    if options and len(names) != 1:
        print("options belong to one benchmark: python -m bench NAME --option ...")
        return 2
    failures = 0
    for name in names:
        print(f"\n######## bench {name}")
        started = time.monotonic()
        module = importlib.import_module(f"bench.bench_{name}")
        failures += 1 if module.main(options) else 0
        print(f"######## {name} done in {time.monotonic() - started:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
