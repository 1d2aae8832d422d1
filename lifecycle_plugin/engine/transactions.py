"""What one engine transaction holds: its customers' locks, and the work that waits for its commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, transaction


def lock_customers(emails: Sequence[str]) -> None:
    """Transaction-scoped advisory locks on the customers' e-mails, taken in key order.

    Every write for a customer happens under this lock and their facts are read after
    it is taken, so concurrent events for one customer are serialised and none is lost.
    Taking a batch's locks in one order keeps two workers from deadlocking.
    """
    with connection.cursor() as cursor:
        if len(emails) == 1:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"lifecycle:{emails[0]}"])
            return
        # OFFSET 0 keeps the sorted subquery from being flattened: the locks are
        # taken in key order, whatever order the batch came in.
        cursor.execute(
            """SELECT count(pg_advisory_xact_lock(key)) FROM (
                   SELECT DISTINCT hashtextextended('lifecycle:' || email, 0) AS key
                   FROM unnest(%s::text[]) AS email ORDER BY 1 OFFSET 0) AS ordered""",
            [list(emails)],
        )


class AfterCommit:
    """The ledger entries enqueued in the engine's open transaction, run once it commits.

    An action enqueued by a hook (`ActionContext.enqueue`) is a ledger row written in
    the deciding transaction; carrying it out must wait until that row is committed.
    The runner wraps each of its transactions in `collect`; `add` notes an entry; at the
    end of the block the entries collected are handed to `dispatch` through
    ``transaction.on_commit``, so they run once after the commit and never after a
    rollback. A block that raises drops what it collected, and so does `rolled_back`
    for a savepoint that was rolled back inside it (its ledger rows are gone).

    An entry added outside `collect` (an action enqueued while `run_entries` carries
    out another) is not run after its commit: it waits, pending, for
    `retry_failed_entries`.
    """

    def __init__(self, dispatch: Callable[[list[int]], Any]):
        self._dispatch = dispatch
        #: None outside `collect`.
        self._entries: list[int] | None = None

    def add(self, entry_id: int) -> None:
        if self._entries is not None:
            self._entries.append(entry_id)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Collect the entries of the transaction opened inside, and flush them at its end.

        Open it around ``transaction.atomic()``'s body (inside the block), so that the
        flush registers with that transaction. Blocks nest: an inner one flushes its own.
        """
        outer, self._entries = self._entries, []
        try:
            yield
            self._flush()
        finally:
            self._entries = outer

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Forget the entries added inside when the block raises (its savepoint is rolled back)."""
        entries = self._entries
        mark = len(entries) if entries is not None else 0
        try:
            yield
        except BaseException:
            if entries is not None:
                del entries[mark:]
            raise

    def _flush(self) -> None:
        """Hand the collected entries to ``transaction.on_commit``: run after the commit, dropped on a rollback."""
        entries, self._entries = self._entries, []
        if entries:
            transaction.on_commit(lambda: self._dispatch(entries))
