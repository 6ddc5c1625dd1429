"""Creating a record at most once per idempotency key.

The same key with the same request gets the stored answer again; the same key
with a different request is a conflict. Requests with one key are served one
at a time, so two concurrent retries cannot both create. A request that fails
(a refusal, or a dependency's 5xx) stores nothing, so a retry with the same key
can still succeed.

A create may leave a marker record (such as a money movement whose outcome is
not known yet) and name it in Created.deletes, so that the marker goes in the
same transaction as the record is written. settle() writes a record that was
learnt later, outside the request that asked for it, under the same lock and
the same final check.
"""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mocks.core.storage import IdempotentAnswer, Store
from mocks.errors import Conflict, DependencyFailed


@dataclass(frozen=True)
class Created:
    """A new record, written together with the idempotency key that made it.

    updates are other records (kind, id, body) the creation changes, such as
    the refunded total of a charge; they land in the same transaction.
    """

    kind: str
    record_id: str
    body: dict
    updates: tuple[tuple[str, str, dict], ...] = ()
    # Records (kind, id) the creation makes obsolete, removed in the same
    # transaction, such as the marker of an attempt whose outcome is now known.
    deletes: tuple[tuple[str, str], ...] = ()


class IdempotentCreates:
    """Creates of one kind of record (the scope), keyed by idempotency key."""

    def __init__(self, store: Store, scope: str):
        self.store = store
        self.scope = scope
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}

    async def run(
        self, key: str, request: dict, create: Callable[[], Awaitable[Created]]
    ) -> dict:
        """Answer as before for a known key, or create and remember the answer."""
        fingerprint = _fingerprint(request)
        async with self._hold(key):
            stored = self.store.idempotent_answer(self.scope, key)
            if stored is not None:
                return _replay(stored, fingerprint, key)
            try:
                created = await create()
            except DependencyFailed as failed:
                # A call that timed out may still have taken effect downstream.
                failed.advice = (
                    f"the outcome is unknown; send the same request with "
                    f"idempotency key {key!r} again to learn it: that is safe"
                )
                raise
            with self.store.transaction():
                # Another process sharing this database (a second instance, a
                # secondary gateway) may have answered the key meanwhile; the
                # write lock this transaction holds makes the check final.
                stored = self.store.idempotent_answer(self.scope, key)
                if stored is not None:
                    for kind, record_id in created.deletes:
                        self.store.delete(kind, record_id)
                    return _replay(stored, fingerprint, key)
                self._write(key, fingerprint, created)
            return created.body

    async def settle(
        self,
        key: str,
        request: dict,
        marker: tuple[str, str, dict],
        build: Callable[[], Created] | None,
    ) -> str:
        """Resolve the marker (kind, id, body) of an earlier attempt, once.

        build makes the record the attempt turned out to create, and removes
        the marker; None means it created nothing. Answers "recorded",
        "forgotten" (nothing was made), "already" when a request with the key
        or an earlier settle got there first, or "changed" when a newer
        attempt rewrote the marker meanwhile (it is left for the next look).
        """
        kind, marker_id, seen = marker
        async with self._hold(key):
            with self.store.transaction():
                now = self.store.get(kind, marker_id)
                if now is None:
                    return "already"
                if now != seen:
                    return "changed"
                self.store.delete(kind, marker_id)
                if self.store.idempotent_answer(self.scope, key) is not None:
                    return "already"
                if build is None:
                    return "forgotten"
                self._write(key, _fingerprint(request), build())
                return "recorded"

    def _write(self, key: str, fingerprint: str, created: Created) -> None:
        """Inside a transaction: the record, its updates and the key's answer."""
        self.store.put(created.kind, created.record_id, created.body)
        for kind, record_id, body in created.updates:
            self.store.put(kind, record_id, body)
        for kind, record_id in created.deletes:
            self.store.delete(kind, record_id)
        answer = IdempotentAnswer(fingerprint, created.body)
        self.store.put_idempotent_answer(self.scope, key, answer)

    @asynccontextmanager
    async def _hold(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._waiting[key] -= 1
            if self._waiting[key] == 0:
                del self._waiting[key]
                del self._locks[key]


def _fingerprint(request: dict) -> str:
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(stored: IdempotentAnswer, fingerprint: str, key: str) -> dict:
    if stored.fingerprint != fingerprint:
        raise Conflict(
            f"idempotency_key {key!r} was first used with a different request; "
            f"reuse a key only to retry the identical request"
        )
    return stored.body
