"""Deleting a customer, for good: their data goes, and a tombstone keeps them from coming back.

Saleor keeps a deleted customer's orders (with their e-mail, the account link set to
NULL), so without a tombstone the next event on one of those orders, or the next
backfill, would decide the e-mail again as a guest and the actions would greet the
deleted person as a new customer. The tombstone is a keyed hash of each identity of
the deleted customer (their normalised e-mail, their account id): HMAC-SHA256 with the
site's SECRET_KEY, so the table holds nothing readable, and matching also tries the
keys of SECRET_KEY_FALLBACKS, so rotating the key does not bring anyone back.

The rule the engine applies (`since_deletion`): for a deleted e-mail or account,
nothing dated before the deletion is read again. Orders placed before it are not
counted, an account that existed then is not one; only an order placed or an account
created after the deletion makes the e-mail a customer again, a new one, with no
history from before. A person who registers again after deleting their account starts
afresh, and so does whoever uses that e-mail for a guest order later.

Who waits for whom: `forget` takes the customer's advisory lock, as every event does,
so an event is decided either before the deletion (and its profile is deleted) or after
it (and sees the tombstone). A backfill does not lock customers; it takes the deletion
lock shared (`hold_off_deletions`) while it writes a chunk, and `forget` takes it
exclusively, so a chunk read before a deletion cannot write the deleted customer back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from ..host import CustomerRef, normalise_email
from ..models import ActionLedgerEntry, BackfillRun, CustomerProfile, DeletedCustomer, HookFailure, PendingEvent
from ..rules import CustomerFacts

#: The advisory lock a backfill chunk holds shared while it writes, and `forget` exclusively.
DELETION_LOCK = "lifecycle:deletions"


def _keys() -> list[bytes]:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [key.encode() if isinstance(key, str) else bytes(key) for key in keys]


def _digest(key: bytes, identity: str) -> str:
    return hmac.new(key, f"lifecycle-tombstone:{identity}".encode(), hashlib.sha256).hexdigest()


def _identities(email: str | None, user_id: int | None) -> list[str]:
    found = []
    if email:
        found.append(f"email:{normalise_email(email)}")
    if user_id:
        found.append(f"user:{int(user_id)}")
    return found


def digests(email: str | None = None, user_id: int | None = None) -> list[str]:
    """The tombstone digests of an e-mail and an account id, under the current key."""
    key = _keys()[0]
    return [_digest(key, identity) for identity in _identities(email, user_id)]


def deleted_at(pairs: Mapping[object, Iterable[tuple[str | None, int | None]]]) -> dict[object, datetime]:
    """When each item was deleted: the latest deletion of any of its (e-mail, account id) pairs.

    Items that were never deleted are left out. One query for all of them.
    """
    keys = _keys()
    wanted: dict[str, list[object]] = {}
    for item, identities in pairs.items():
        for email, user_id in identities:
            for identity in _identities(email, user_id):
                for key in keys:
                    wanted.setdefault(_digest(key, identity), []).append(item)
    if not wanted:
        return {}
    found: dict[object, datetime] = {}
    for digest, at in DeletedCustomer.objects.filter(digest__in=list(wanted)).values_list("digest", "deleted_at"):
        for item in wanted[digest]:
            if item not in found or at > found[item]:
                found[item] = at
    return found


def since_deletion(facts: CustomerFacts, deleted: datetime) -> CustomerFacts:
    """What the store knows of a customer once everything from before their deletion is left out.

    Carts have no date in the facts: they count only for a customer who is one again
    (Saleor deletes an account's carts with it, and abandoned guest carts expire).
    """
    orders = tuple(order for order in facts.orders if order.placed_at > deleted)
    account = facts.has_account and facts.account_created_at is not None and facts.account_created_at > deleted
    if not orders and not account:
        return CustomerFacts(email=facts.email, extra=facts.extra)
    return dataclasses.replace(
        facts, orders=orders, has_account=account,
        user_id=facts.user_id if account else None,
        account_created_at=facts.account_created_at if account else None,
    )


def apply_tombstones(facts: dict[CustomerRef, CustomerFacts]) -> dict[CustomerRef, CustomerFacts]:
    """`facts` with every deleted customer's history from before their deletion left out."""
    deleted = deleted_at({ref: [(ref.email, ref.user_id), (None, f.user_id)] for ref, f in facts.items()})
    for ref, at in deleted.items():
        facts[ref] = since_deletion(facts[ref], at)
    return facts


def hold_off_deletions(customers: Sequence[CustomerRef]) -> dict[str, datetime]:
    """Hold deletions off until the current transaction ends; when each of `customers`
    that was deleted so far was deleted, by e-mail."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock_shared(hashtextextended(%s, 0))", [DELETION_LOCK])
    return deleted_at({c.email: [(c.email, c.user_id)] for c in customers})


def record(emails: Sequence[str], user_id: int | None, at: datetime | None = None) -> None:
    """Write the tombstone of a customer's e-mails and account id, and drop their queued
    events: one statement each, whatever the number of e-mails.

    Cheap, so it can run inside the transaction that deletes the account; it waits only
    for a drain that has taken one of those events to finish its batch.
    """
    at = at or timezone.now()
    emails = sorted({normalise_email(email) for email in emails if email})
    rows = sorted({*(d for email in emails for d in digests(email)), *digests(None, user_id)})
    if not rows:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {DeletedCustomer._meta.db_table} (digest, deleted_at)
                SELECT unnest(%s::text[]), %s
                ON CONFLICT (digest) DO UPDATE SET deleted_at = greatest(EXCLUDED.deleted_at,
                                                                        {DeletedCustomer._meta.db_table}.deleted_at)""",
            [rows, at],
        )
    events = Q(email__in=emails)
    if user_id:
        events |= Q(user_id=user_id)
    PendingEvent.objects.filter(events).delete()


def issued_vouchers(emails: Sequence[str], user_id: int | None) -> list[str]:
    """The ids of the vouchers issued to the customer of these e-mails and account, as
    their action ledger records them (`IssuedVoucher.voucher_id`)."""
    profiles = Q(email__in=[normalise_email(e) for e in emails if e])
    if user_id:
        profiles |= Q(user_id=user_id)
    return [str(v) for v in ActionLedgerEntry.objects.filter(profile__in=CustomerProfile.objects.filter(profiles))
            .filter(result__has_key="voucher_id").values_list("result__voucher_id", flat=True)]


def forget(customer: CustomerRef, *, host=None, also_emails: Sequence[str] = (),
           known_vouchers: Sequence[str] = ()) -> int:
    """Delete everything kept about a customer and leave their tombstone; how many rows went.

    Gone: the profile (by e-mail and by account) with its history, tier changes, ledger,
    scheduled actions and hook failures; queued events; hook failures of decision hooks
    that mention the e-mail; the e-mail in a backfill's resume cursor; and what the host
    keeps for the plugin (`host.forget_customer`: the e-mail on issued vouchers).
    Does not need the plugin to be switched on. Safe to call again. `known_vouchers`:
    voucher ids read before the profile went already (the user model's cascade deletes
    it before a `post_delete` receiver runs).
    """
    emails = sorted({customer.email, *(normalise_email(e) for e in also_emails if e)})
    profiles = Q(email__in=emails)
    if customer.user_id:
        profiles |= Q(user_id=customer.user_id)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(pg_advisory_xact_lock(hashtextextended('lifecycle:' || email, 0))) "
                "FROM (SELECT unnest(%s::text[]) AS email ORDER BY 1 OFFSET 0) AS ordered",
                [emails],
            )
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [DELETION_LOCK])
        record(emails, customer.user_id)
        # Read before the ledger goes with the profiles.
        vouchers = sorted({*issued_vouchers(emails, customer.user_id), *known_vouchers})
        deleted, _ = CustomerProfile.objects.filter(profiles).delete()
        # Decision-hook failures belong to no profile; theirs are found by the address as a
        # whole word (a substring would take joann@shop.com's along with ann@shop.com's).
        mentions = Q()
        for email in emails:
            whole = rf"(^|[^\w.+%-]){re.escape(email)}($|[^\w.-])"
            mentions |= Q(error__iregex=whole) | Q(traceback__iregex=whole)
        deleted += HookFailure.objects.filter(mentions, profile__isnull=True).delete()[0]
        # Resuming a backfill after someone else's e-mail is what the cursor is for; it
        # cannot name the deleted customer, so an unfinished run starts over (a backfill
        # redone leaves every profile as it is) and a finished one keeps no cursor.
        BackfillRun.objects.filter(last_email__in=emails).update(last_email="", customers_done=0)
        forget_in_host = getattr(host, "forget_customer", None)
        if forget_in_host is not None:
            forget_in_host(emails, vouchers)
    return deleted
