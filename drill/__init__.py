"""The fault-and-abuse drill (issue 14): the service's real processes (gunicorn, Celery workers,
the vendor sandbox) driven through the faults it must survive, with one table of what was sent,
accepted, stored, lost and doubled, and how long it took to recover.

    make drill                      (or: .venv/bin/python -m drill [FAULT ...])

Faults, in order (drill/<module>.py):
    web      gunicorn SIGKILL (one worker, then the whole server) and SIGTERM during a usage load
             from four clients that resend until answered: what they were told is stored is stored
    poison   a record with a value no column or calendar can hold, in each field, between two
             good ones: the good ones are stored, the reply is a 200
    flood    300 forged PagerDuty webhooks from six addresses beside 20 genuine ones: every genuine
             one accepted, no forged one stored, the tenant's limit unspent
    outages  each vendor of each family (alerts, monitoring, accounting, CRM, BI) fails (5xx twice,
             429 + Retry-After, a held connection, a dropped one, a reply lost after the vendor
             acted) then recovers: everything delivered, in order (outages.py, exports.py)
    cache    the web server's cache at a dead port: ingest, webhooks and scrapes still answer
    broker   the web server's broker at a dead port: webhooks still stored; processed once it is back
    worker   a worker SIGKILLed mid-drain: another takes over within the drain lease (< 30 s)

It runs on the embedded default, or on PostgreSQL and Redis when DATABASE_URL, CACHE_URL and
CELERY_BROKER_URL name them (a database of its own is created beside the named one and dropped;
its Redis keys and queue carry the run's id). Exit status 1 when anything is lost, doubled beyond
the sends cut off in flight, or not recovered in time.

A family added later joins the drill with one VendorOutage entry in drill/outages.py OUTAGES:
its family, provider, sandbox prefix, configuration, and a `produce` function that queues
deliveries through the family's own code and returns a marker each body carries (optionally:
which requests are its sends, what the vendor holds, whether a resend is harmless). See that
module's docstring; docs/drill.md explains the table.
"""
