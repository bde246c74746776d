"""gunicorn settings shared by the demo, production and benchmarks.

prometheus_client multiprocess mode: each worker writes its metrics to PROMETHEUS_MULTIPROC_DIR;
when a worker exits its live gauges are dropped so /metrics stays correct.
"""

import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
