"""Signed webhooks under gunicorn on PostgreSQL, against a bare Django view in the same run.

    python -m bench webhooks           (needs PostgreSQL, Redis and wrk: `make system-deps`)

wrk (2 threads, 32 connections) on 127.0.0.1 drives one gunicorn (same settings for both) in
alternating rounds: a bare Django view that reads the body and returns 200 (same middleware),
then the webhook endpoint with distinct, freshly signed Standard Webhooks deliveries (source
"generic"): size limit, rate limit (Redis), verification, dedupe + INSERT (PostgreSQL), 200.
Alternating rounds and medians keep a busy neighbour from skewing the ratio.

Two dispatch modes are measured (webhooks.inbox.Dispatch):
- the generic source's default, SWEEPER: the stored "received" row is the queue and the beat
  sweeper publishes the Celery tasks (its publishing rate is measured after the rounds);
- IMMEDIATE, a Celery publish per request, as the alert sources do.

Zero loss is checked, not assumed: wrk records the event id of every 2xx reply
(X-Inbound-Event-Ids) and each must be a stored row; every stored event must reach the broker
(Celery queue length, sweeper count). Goals (issue part 7): >= 30 % of the bare view's requests/s,
p99 < 100 ms at 32 connections, zero events lost.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import PYTHON, ROOT, bench_env, gunicorn, pg_database, report

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", 32))
THREADS = 2
DURATION = int(os.environ.get("BENCH_SECONDS", 5))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 5))
WARMUP = 3
WORKERS = int(os.environ.get("BENCH_WORKERS", 5))  # gunicorn's (2 x cores) + 1
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
PER_THREAD = int(os.environ.get("BENCH_REQUESTS_PER_THREAD", 30_000))
ORG = "bench-org"
PATH = f"/api/webhooks/ai-integrations/generic/{ORG}/"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

GOAL_RATIO = 0.30
GOAL_P99_MS = 100.0

# -- wrk scripts ---------------------------------------------------------------------------------
_DONE = r"""
function done(summary, latency, requests)
  local acked, wrapped = {}, 0
  for _, t in ipairs(threads) do
    for _, ids in ipairs(t:get("acked") or {}) do acked[#acked + 1] = ids end
    wrapped = wrapped + (t:get("wrapped") or 0)
  end
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"socket_errors": %d, "timeouts": %d, "wrapped": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write, e.timeout, wrapped))
  for _, ids in ipairs(acked) do out:write(ids, "\n") end
  out:close()
end
"""

# The bare run records a header of every 2xx reply too, so wrk does the same work per response
# in both runs (its CPU competes with the server's on these two cores).
BARE_LUA = (
    r"""
threads = {}
function setup(thread) table.insert(threads, thread) end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"type":"crm.client.created","timestamp":"2026-06-13T14:00:00Z","data":{"id":"c_0000000"}}'
seen = {}
function response(status, headers, body)
  if status >= 200 and status < 300 then seen[#seen + 1] = headers["X-Request-ID"] or "?" end
end
"""
    + _DONE
)

WEBHOOK_LUA = (
    r"""
threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
reqs, acked, wrapped, counter = {}, {}, 0, 0
function init(args)
  local path = os.getenv("BENCH_PATH")
  for line in io.lines(os.getenv("BENCH_REQUESTS") .. "." .. tid) do
    local id, ts, sig, body = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.*)$")
    reqs[#reqs + 1] = wrk.format("POST", path, {["Content-Type"] = "application/json", ["webhook-id"] = id,
      ["webhook-timestamp"] = ts, ["webhook-signature"] = sig}, body)
  end
end
function request()
  counter = counter + 1
  if counter > #reqs then wrapped = wrapped + 1 end
  return reqs[(counter - 1) % #reqs + 1]
end
function response(status, headers, body)
  if status >= 200 and status < 300 then
    acked[#acked + 1] = headers["X-Inbound-Event-Ids"] or headers["x-inbound-event-ids"] or "?"
  end
end
"""
    + _DONE
)


def _signed_requests(directory: Path, prefix: str, per_thread: int) -> str:
    """Write per-thread files of distinct, freshly signed Standard Webhooks deliveries."""
    from wedsync_integrations.integrations.signing import standard_webhooks_signature

    base = directory / prefix
    now = int(time.time())
    for tid in range(1, THREADS + 1):
        with open(f"{base}.{tid}", "w") as out:
            for n in range(per_thread):
                msg_id = f"msg_{prefix}_{tid}_{n}"
                body = (
                    f'{{"type":"crm.client.created","timestamp":"2026-06-13T14:00:00Z","data":{{"id":"c_{n:07d}"}}}}'
                ).encode()
                signature = standard_webhooks_signature(SECRET, msg_id, now, body)
                out.write(f"{msg_id}\t{now}\t{signature}\t{body.decode()}\n")
    return str(base)


def _wrk(url: str, script: Path, seconds: int, extra_env: dict[str, str], server_pids=None) -> dict:
    out = Path(tempfile.mkstemp(prefix="wsi-wrk-", suffix=".out")[1])
    env = {**os.environ, **extra_env, "BENCH_OUT": str(out)}
    cmd = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s", "-s", str(script), url]
    groups = server_pids or {}
    before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
    wrk_before = _children_cpu_seconds()
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    cpu = {name: _cpu_seconds(pids) - before[name] for name, pids in groups.items()}
    cpu["wrk"] = _children_cpu_seconds() - wrk_before
    lines = out.read_text().splitlines()
    out.unlink()
    result = json.loads(lines[0])
    result["acked"] = [event_id for line in lines[1:] for event_id in line.split(",") if event_id]
    seconds_run = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / seconds_run if seconds_run else 0.0
    result["ok"] = result["requests"] - result["non2xx"]
    # CPU per request of everything this run drives (gunicorn workers, our PostgreSQL backends,
    # Redis, wrk): unlike requests/s it does not move when a neighbour takes the CPU.
    per_request = 1000 / result["requests"] if result["requests"] else 0.0
    result["cpu_parts"] = {name: seconds * per_request for name, seconds in cpu.items()}
    result["cpu_ms"] = sum(result["cpu_parts"].values())
    return result


def _cpu_seconds(pids) -> float:
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a process that ended (a PostgreSQL backend closing) simply stops counting
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _server_pids(base: str, url: str) -> dict[str, list[int]]:
    """gunicorn's workers (children of the master listening on base's port), the PostgreSQL
    backends connected to the benchmark database, and redis-server."""
    port = base.rsplit(":", 1)[1]
    masters = subprocess.run(
        ["pgrep", "-f", f"gunicorn.*127.0.0.1:{port}"], capture_output=True, text=True
    ).stdout.split()
    with _pg(url) as conn:
        backends = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )]  # fmt: skip
    redis_pids = subprocess.run(["pgrep", "-x", "redis-server"], capture_output=True, text=True).stdout.split()
    return {
        "gunicorn": [int(pid) for master in masters for pid in _children(int(master))],
        "postgres": backends,
        "redis": [int(pid) for pid in redis_pids],
    }


def _children(pid: int) -> list[int]:
    return [
        int(child) for child in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    ]


# -- database and broker checks -------------------------------------------------------------------
def _pg(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)


def _stored(url: str, prefix: str) -> int:
    with _pg(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM webhooks_inboundevent WHERE starts_with(external_id, %s)", [f"msg_{prefix}"]
        ).fetchone()[0]


def _missing(url: str, acked: list[str]) -> int:
    """Replies that said 2xx for an event id that is not a stored row (or carried no id)."""
    ids = {int(value) for value in acked if value.isdigit()}
    unreadable = sum(1 for value in acked if not value.isdigit())
    with _pg(url) as conn:
        found = conn.execute("SELECT count(*) FROM webhooks_inboundevent WHERE id = ANY(%s)", [list(ids)]).fetchone()[0]
    return unreadable + len(ids) - found


def _redis():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def _queued() -> int:
    return int(_redis().llen("celery"))


def _seed(env: dict) -> None:
    code = (
        "from wedsync_integrations.tenants.models import Organisation\n"
        "from webhooks.models import WebhookConfig\n"
        f"org = Organisation.objects.create(slug={ORG!r}, name='Benchmark Weddings')\n"
        "WebhookConfig.objects.create(organisation=org, provider='generic',\n"
        f"    secrets={{'signing_secret': {SECRET!r}}},\n"
        "    settings={'rate_limit_per_minute': 10000000, 'peak_rate_limit_per_minute': 10000000})\n"
    )
    subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)


def _sweep_all(env: dict) -> tuple[int, float]:
    """Run the sweeper until nothing is left to publish; returns (published, seconds)."""
    code = (
        "import time\nfrom webhooks import tasks\nstarted = time.monotonic(); total = 0\n"
        "while True:\n    n = tasks.sweep(limit=5000)\n    total += n\n    if n == 0: break\n"
        "print(total, time.monotonic() - started)\n"
    )
    out = subprocess.run(
        [PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    published, seconds = out.stdout.split()[-2:]
    return int(published), float(seconds)


# -- the run ----------------------------------------------------------------------------------------
def _rounds(env, url, workdir: Path, label: str) -> dict:
    """Alternate bare and webhook runs on one server, so a noisy neighbour slows both alike;
    the ratio is taken per round and the median reported."""
    bare_script, hook_script = workdir / "bare.lua", workdir / "webhooks.lua"
    rounds = []
    with gunicorn(env, workers=WORKERS) as base:
        _wrk(base + "/bench/bare", bare_script, WARMUP, {})
        warm = _signed_requests(workdir, f"{label}warm", 3000)
        _wrk(base + PATH, hook_script, WARMUP, {"BENCH_REQUESTS": warm, "BENCH_PATH": PATH})
        pids = _server_pids(base, url)  # after the warm-up: every worker holds its database connection
        for n in range(ROUNDS):
            bare = _wrk(base + "/bench/bare", bare_script, DURATION, {}, pids)
            requests_file = _signed_requests(workdir, f"{label}{n}", PER_THREAD)
            extra = {"BENCH_REQUESTS": requests_file, "BENCH_PATH": PATH}
            hook = _wrk(base + PATH, hook_script, DURATION, extra, pids)
            rounds.append((bare, hook))
    acked = [event_id for _, hook in rounds for event_id in hook["acked"]]
    return {
        "rounds": rounds,
        "bare_rps": statistics.median(bare["rps"] for bare, _ in rounds),
        "rps": statistics.median(hook["rps"] for _, hook in rounds),
        "ratio": statistics.median(hook["rps"] / bare["rps"] for bare, hook in rounds),
        "bare_cpu_ms": statistics.median(bare["cpu_ms"] for bare, _ in rounds),
        "cpu_ms": statistics.median(hook["cpu_ms"] for _, hook in rounds),
        "cpu_ratio": statistics.median(bare["cpu_ms"] / hook["cpu_ms"] for bare, hook in rounds if hook["cpu_ms"]),
        "cpu_parts": {
            name: statistics.median(hook["cpu_parts"][name] for _, hook in rounds) for name in rounds[0][1]["cpu_parts"]
        },
        "p50_ms": statistics.median(hook["p50_us"] for _, hook in rounds) / 1000,
        "p99_ms": statistics.median(hook["p99_us"] for _, hook in rounds) / 1000,
        "worst_p99_ms": max(hook["p99_us"] for _, hook in rounds) / 1000,
        "ok": sum(hook["ok"] for _, hook in rounds),
        "requests": sum(hook["requests"] for _, hook in rounds),
        "wrapped": sum(hook["wrapped"] for _, hook in rounds),
        "missing": _missing(url, acked),
        "stored": _stored(url, label),
    }


def main(argv: list[str]) -> int:
    if shutil.which("wrk") is None:
        print("SKIPPED: wrk is not installed (run `make system-deps`)")
        return 0
    _redis().flushdb()
    workdir = Path(tempfile.mkdtemp(prefix="wsi-bench-webhooks-"))
    (workdir / "bare.lua").write_text(BARE_LUA)
    (workdir / "webhooks.lua").write_text(WEBHOOK_LUA)
    try:
        with pg_database("wsi_bench_webhooks") as url:
            env = bench_env(
                url,
                DJANGO_SETTINGS_MODULE="bench.webhooks_settings",
                CACHE_URL=REDIS_URL,
                CELERY_BROKER_URL=REDIS_URL,
                CELERY_RESULT_BACKEND=REDIS_URL,
                PUBLIC_BASE_URL="https://hooks.wedsync.example",
            )
            _seed(env)
            # the generic source's default: the beat sweeper publishes (CRM, accounting, partners)
            deferred = _rounds({**env, "WEBHOOK_DISPATCH": ""}, url, workdir, "swp")
            published, sweep_seconds = _sweep_all(env)
            # forced to publish per request, as the alert sources (Slack, PagerDuty, Twilio…) do
            _redis().delete("celery")
            immediate = _rounds({**env, "WEBHOOK_DISPATCH": "immediate"}, url, workdir, "imm")
            queued = _queued()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        _redis().flushdb()
    return _report(deferred, immediate, published, sweep_seconds, queued)


def _report(deferred: dict, immediate: dict, published: int, sweep_seconds: float, queued: int) -> int:
    def line(r):
        return (
            f"{r['rps']:6.0f} req/s vs bare {r['bare_rps']:6.0f}: {r['ratio']:4.0%}   "
            f"p50 {r['p50_ms']:5.1f} ms   p99 {r['p99_ms']:5.1f} ms (worst round {r['worst_p99_ms']:.1f})"
        )

    def rounds(r):
        return "  ".join(f"{hook['rps']:.0f}/{bare['rps']:.0f}" for bare, hook in r["rounds"])

    def cpu(r):
        parts = ", ".join(f"{name} {ms:.2f}" for name, ms in r["cpu_parts"].items())
        return (
            f"{r['cpu_ms']:.2f} ms ({parts}) vs bare {r['bare_cpu_ms']:.2f} ms per request: "
            f"{r['cpu_ratio']:.0%} of bare's throughput if CPU-bound"
        )

    rows = [
        (
            "setup",
            f"gunicorn {WORKERS} sync workers; wrk {THREADS} threads x {CONNECTIONS} connections; "
            f"{ROUNDS} rounds of {DURATION}s bare then {DURATION}s webhook; medians",
        ),  # fmt: skip
        ("publish by sweeper (default)", line(deferred)),
        ("  rounds webhook/bare req/s", rounds(deferred)),
        ("  CPU (server + wrk)", cpu(deferred)),
        (
            "  no loss",
            f"{deferred['ok']} 2xx of {deferred['requests']}; {deferred['stored']} stored (incl. warm-up"
            f" and in-flight at stop); 2xx without a stored row: {deferred['missing']}",
        ),  # fmt: skip
        (
            "  sweeper then published",
            f"{published} events in {sweep_seconds:.1f}s ({published / sweep_seconds if sweep_seconds else 0:.0f}/s)",
        ),  # fmt: skip
        ("publish per request (alerts)", line(immediate)),
        ("  rounds webhook/bare req/s", rounds(immediate)),
        ("  CPU (server + wrk)", cpu(immediate)),
        (
            "  no loss",
            f"{immediate['ok']} 2xx of {immediate['requests']}; {immediate['stored']} stored; "
            f"2xx without a stored row: {immediate['missing']}; Celery messages {queued}",
        ),  # fmt: skip
    ]
    verdicts = [
        (f"full path (default dispatch) >= {GOAL_RATIO:.0%} of bare", deferred["ratio"] >= GOAL_RATIO),
        (f"p99 < {GOAL_P99_MS:.0f} ms at {CONNECTIONS} connections", deferred["p99_ms"] < GOAL_P99_MS),
        ("zero events lost (every 2xx a stored row; every stored event published)",
         deferred["missing"] == immediate["missing"] == 0 and published == deferred["stored"]
         and queued == immediate["stored"] and deferred["wrapped"] == immediate["wrapped"] == 0),
    ]  # fmt: skip
    return (
        0 if report("webhooks: signed Standard Webhooks requests vs a bare Django view", rows, verdicts=verdicts) else 1
    )


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
