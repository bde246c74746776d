"""The embedded Celery broker: kombu's filesystem transport, with messages that appear whole.

kombu writes a message by creating its final file and then filling it. A worker that lists the
folder in between moves the still-empty file away, fails to decode it and stops for good
("Unrecoverable error: JSONDecodeError", kombu issue #1551); under `make demo` on a busy
machine that happened within a minute. Here a message is written under a name the reader
ignores and renamed into place, which is atomic within one filesystem: a reader sees either
nothing or the whole message. Everything else (claiming by rename, fan-out) is kombu's.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

PARTIAL_SUFFIX = ".part"  # "<time>_<uuid>.<queue>.msg.part" never matches the reader's "<queue>.msg"


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        # Readers take messages in name order. kombu's name starts with unpadded monotonic
        # milliseconds (same-millisecond messages come out in random order, and the clock restarts
        # at boot while queued files survive); a zero-padded wall-clock nanosecond stamp keeps
        # publishing order.
        name = f"{time.time_ns():020d}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = final + PARTIAL_SUFFIX
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel

    @property
    def default_connection_params(self):
        # no host to default to: kombu would otherwise warn "No hostname was supplied" on every publish
        return {"port": self.default_port}
