"""Whom an event is about: the customer's profile, and whose it is.

An e-mail has at most one profile, and so has an account. An event names an e-mail
and perhaps an account; they can find two profiles (a guest's and an account's that
took its e-mail, or changed e-mail), which are merged into the account's. While an
account is not confirmed, it and the guest of its e-mail stay apart (`host.Owners`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.db import IntegrityError, transaction

from ..host import CustomerRef
from ..models import (
    ActionLedgerEntry,
    CustomerProfile,
    HookFailure,
    ScheduledAction,
    StageTransition,
    TierChange,
)
from ..rules import CustomerFacts

ReadFacts = Callable[[Sequence[CustomerRef]], dict[CustomerRef, CustomerFacts]]


def find_profiles(customers: Sequence[CustomerRef]) -> list[list[CustomerProfile]]:
    """Each customer's profiles (by e-mail and by account; two when they have to merge), locked."""
    # Two array parameters rather than IN lists of hundreds of placeholders.
    rows = list(CustomerProfile.objects.raw(
        f"""SELECT * FROM {CustomerProfile._meta.db_table}
            WHERE email = ANY(%s::text[]) OR user_id = ANY(%s::bigint[]) ORDER BY id FOR UPDATE""",
        [[c.email for c in customers], [c.user_id for c in customers if c.user_id]],
    ))
    by_email = {row.email: row for row in rows}
    by_user = {row.user_id: row for row in rows if row.user_id}
    found = []
    for customer in customers:
        matches = [row for row in (by_user.get(customer.user_id) if customer.user_id else None,
                                   by_email.get(customer.email)) if row is not None]
        if len(matches) == 2 and matches[0].pk == matches[1].pk:
            matches = matches[:1]
        found.append(sorted(matches, key=lambda row: row.pk))
    return found


def as_profile_owners(refs: list[CustomerRef], facts: list[CustomerFacts], found: list[list[CustomerProfile]],
                      read_facts: ReadFacts) -> tuple[list[CustomerRef], dict[CustomerRef, CustomerFacts]]:
    """Whom to decide each event as, and their facts: an e-mail has one profile, and
    the event is decided as that profile's owner.

    While an account is not confirmed, the host gives it only its own rows and reads
    the e-mail alone as the guest of that e-mail (`host.Owners`). So an event of the
    account that finds only the guest's profile is decided as the guest (the profile
    stays the guest's until the confirmation), and a guest event that finds the
    account's profile as that account. Both are read again, in one host read.
    """
    chosen = list(refs)
    for index, (ref, customer_facts, matches) in enumerate(zip(refs, facts, found)):
        owners = {profile.user_id for profile in matches}
        if ref.user_id and not customer_facts.account_confirmed and ref.user_id not in owners and None in owners:
            chosen[index] = CustomerRef(ref.email, None)
        elif not ref.user_id and len(owners) == 1 and None not in owners:
            chosen[index] = CustomerRef(ref.email, owners.pop())
    facts_of = {ref: customer_facts for ref, customer_facts in zip(refs, facts)}
    again = [ref for ref, before in zip(chosen, refs) if ref != before]
    if again:
        reread = read_facts(again)
        for index, ref in enumerate(chosen):
            if ref in reread:
                customer_facts = reread[ref]
                owner = customer_facts.user_id if customer_facts.has_account else None
                chosen[index] = CustomerRef(ref.email, owner)
                facts_of[chosen[index]] = customer_facts
    return chosen, facts_of


def email_taken(email: str, profile: CustomerProfile) -> bool:
    """Whether another profile has `email` (a guest's, which an unconfirmed account keeps apart)."""
    return CustomerProfile.objects.filter(email=email).exclude(pk=profile.pk).exists()


def keep_one(customer: CustomerRef, found: list[CustomerProfile]) -> CustomerProfile | None:
    """The customer's one profile; a second one found is merged into it."""
    if len(found) <= 1:
        return found[0] if found else None
    # An account took the e-mail of a guest profile (or changed e-mail): keep the
    # account's profile and fold the other one's history into it.
    keep = next((p for p in found if p.user_id == customer.user_id), found[0])
    for other in found:
        if other.pk != keep.pk:
            merge_into(keep, other)
    return keep


def merge_into(keep: CustomerProfile, other: CustomerProfile) -> None:
    """Move `other`'s history, actions and failures to `keep`, then delete `other`."""
    for model in (StageTransition, TierChange, ScheduledAction, HookFailure):
        model.objects.filter(profile=other).update(profile=keep)
    for entry in ActionLedgerEntry.objects.filter(profile=other):
        entry.profile = keep
        try:
            with transaction.atomic():
                entry.save(update_fields=["profile"])
        except IntegrityError:
            entry.delete()  # the same action is in `keep`'s ledger already
    keep.history_cutoff = min(keep.history_cutoff, other.history_cutoff)
    other.delete()
