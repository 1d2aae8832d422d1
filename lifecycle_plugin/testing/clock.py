"""A clock that moves only when a test moves it."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """Pass it as the engine's `clock`: calling it gives `now`, which the test sets or advances.

    The engine reads the time only through its clock, so a test can replay days, weeks or
    years of a customer's life in milliseconds: ``clock.advance(days=91)``, then ``engine.sweep()``.
    """

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the time on by ``timedelta(**delta)``, e.g. ``advance(days=30)``."""
        self.now += timedelta(**delta)
