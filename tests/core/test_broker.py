"""The embedded broker (filesystem transport): a reader never sees a half-written message."""

from __future__ import annotations

import os
import subprocess
import sys
from queue import Empty

import pytest
from kombu import Connection
from kombu.transport import filesystem

from wedsync_integrations.core import broker


def _connection(folder, transport) -> Connection:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder), "control_folder": str(folder / "ctl")}
    return Connection("filesystem://", transport=transport, transport_options=options)


class ReadsWhileBeingWritten:
    """Serialised in the middle of a publish: at that moment a second consumer polls the queue."""

    def __init__(self, reader):
        self.reader = reader
        self.seen = None

    def __json__(self):
        try:
            self.seen = self.reader._get("celery")
        except Empty:
            self.seen = "nothing"
        except Exception as exc:  # what kombu's own transport gives: the worker's fatal error
            self.seen = exc
        return "payload"


@pytest.mark.parametrize(
    "transport, whole",
    [(broker.Transport, True), (filesystem.Transport, False)],
    ids=["ours", "kombu-as-shipped"],
)
def test_a_consumer_polling_during_a_publish_sees_nothing_rather_than_a_broken_message(tmp_path, transport, whole):
    with _connection(tmp_path, transport) as writer_conn, _connection(tmp_path, transport) as reader_conn:
        writer, reader = writer_conn.default_channel, reader_conn.default_channel
        probe = ReadsWhileBeingWritten(reader)

        writer._put("celery", {"body": probe})

        if whole:
            assert probe.seen == "nothing"
            assert reader._get("celery") == {"body": "payload"}
        else:  # documents the bug this module exists for: an empty file decoded as a message
            assert isinstance(probe.seen, ValueError)


def test_messages_round_trip_in_publishing_order_and_leave_no_partial_files(tmp_path):
    with _connection(tmp_path, broker.Transport) as conn:
        channel = conn.default_channel
        for n in range(5):
            channel._put("celery", {"n": n})
        assert channel._size("celery") == 5
        assert [channel._get("celery")["n"] for _ in range(5)] == [0, 1, 2, 3, 4]
        with pytest.raises(Empty):
            channel._get("celery")
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(broker.PARTIAL_SUFFIX)]


def test_a_failed_write_leaves_nothing_behind_and_says_so(tmp_path, monkeypatch):
    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(broker.os, "replace", disk_full)
    with _connection(tmp_path, broker.Transport) as conn:
        with pytest.raises(Exception, match="Cannot add file"):
            conn.default_channel._put("celery", {"n": 1})
    assert [p.name for p in tmp_path.iterdir() if p.is_file()] == []


def test_the_embedded_default_publishes_through_this_transport(tmp_path):
    """The settings with no broker configured, in a fresh process (the suite itself uses memory://)."""
    env = {k: v for k, v in os.environ.items() if k not in {"CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}}
    env.update(WEDSYNC_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="wedsync_integrations.settings")
    code = (
        "from wedsync_integrations.core.local_files import prepare; prepare()\n"  # what manage.py does first
        "from wedsync_integrations.celery import app\n"
        "with app.connection_for_write() as conn: t = type(conn.transport)\n"
        "print(f'{t.__module__}.{t.__name__}')"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["wedsync_integrations.core.broker.Transport"]


def test_publishing_logs_no_hostname_warning(tmp_path, caplog):
    """kombu warns "No hostname was supplied" whenever a connection is cloned (every publish from a
    worker): noise in the demo's log for a transport that has no host."""
    with _connection(tmp_path, broker.Transport) as conn:
        conn.clone().default_channel._put("celery", {"n": 1})
        conn.info()
    assert not [r for r in caplog.records if "hostname" in r.getMessage()]
