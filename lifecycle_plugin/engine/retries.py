"""How often, and how long after, something that failed is tried again.

Shared by failed actions (the ledger and scheduled actions), failed hook
implementations and a customer's failed inbox events.
"""

from __future__ import annotations

from datetime import timedelta

#: How often a failing action (or hook implementation) is tried before it is left as failed.
MAX_ACTION_ATTEMPTS = 5
#: Something that failed is tried again after this, then after twice as long each time.
RETRY_DELAY = timedelta(minutes=5)
#: A ledger entry left pending or failed is picked up by the retry task once it has not
#: changed for this long (its first run happens right after the commit that made it).
LEDGER_RETRY_AFTER = timedelta(minutes=5)


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed try: 5, 10, 20, 40 minutes..."""
    return RETRY_DELAY * 2 ** (attempts - 1)
