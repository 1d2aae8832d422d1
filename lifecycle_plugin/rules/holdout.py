"""The stable holdout's split: which customers never get a given action (`actions.holdout`).

A SHA-256 of (action, customer profile id), not Python's `hash`, so the answer is the same in
every process and run whatever the hash seed; the action is part of it, so a customer's
holdouts of two actions are independent draws. A larger share holds out everyone a smaller
one did (the buckets below the threshold only grow).
"""

from __future__ import annotations

import hashlib

MAX_HOLDOUT_PERCENT = 50
#: The split's resolution: percent × 100 of 10,000 buckets.
_BUCKETS = 10_000


def holdout_bucket(action: str, profile_id: int) -> int:
    """The customer's bucket (0–9,999) for `action`."""
    digest = hashlib.sha256(f"{action}\x1f{profile_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % _BUCKETS


def is_held_out(action: str, profile_id: int, percent: int) -> bool:
    """Whether the customer is in `action`'s holdout when `percent` (0–50) of customers are held out."""
    return holdout_bucket(action, profile_id) < percent * (_BUCKETS // 100)
