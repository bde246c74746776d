"""Lua scripts on the Redis behind Django's cache: one round trip for a read-and-write that must
be atomic (a rate-limit lease, a lease renewed only by its holder).

    script = lua_script(backend, SOURCE)            # registered once per backend and script
    result = script(keys=[backend.make_and_validate_key(key)], args=[...])
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache

_scripts: dict[tuple[int, str], object] = {}


def lua_script(backend: RedisCache, source: str):
    """The redis-py Script for `source` on `backend`'s server.

    Django builds a new redis.Redis (copying ~170 response callbacks) on every cache call, and a
    pipeline copies them again: on the webhook path that was a third of the request's CPU. One
    client per backend and script is thread-safe and shares Django's connection pool. (One
    server: the client is the one a key of this cache maps to.)"""
    found = _scripts.get((id(backend), source))
    if found is None:
        client = backend._cache.get_client(backend.make_and_validate_key("lua"), write=True)
        found = _scripts[(id(backend), source)] = client.register_script(source)
    return found
