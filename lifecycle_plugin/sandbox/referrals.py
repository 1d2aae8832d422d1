"""Shoppers who share referral codes, for the replayed days of the demo.

The generated history cannot hold referral orders: a code exists only once the engine has
issued it, live. So each replayed day, some of the codes issued so far are used, at a
time within that day, through the store (`SandboxStore.place_order`, which checks the code
as Saleor's checkout does):

- most by a new customer (a guest friend, shipping to their own address): a referral that
  is rewarded once the return window has passed;
- some by a friend who ships to the referrer's address: refused (shared address);
- some by a friend of an earlier referral who uses a second code: refused (already referred);
- some by an existing customer who has ordered before: refused (not a new customer);
- some by the code's owner: refused at checkout (`VoucherRefused`), no order.

Deterministic for a seed, so a demo run is reproducible.
"""

from __future__ import annotations

import random
import zlib
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model

from .models import Order, Voucher
from .store import SandboxStore, VoucherRefused

#: Of the codes not used yet, the share used on a given day.
DAILY_USE = 0.35


def _referrer_address(code: Voucher) -> str:
    return _referrer_address_of(code.customer_email)


def _referrer_address_of(email: str) -> str:
    return f"{zlib.crc32(email.encode()) % 900 + 100} Referrer Street, Springfield"


def make_referrals(engine, clock, start: datetime, end: datetime, *, seed: int = 7) -> Counter:
    """Use some referral codes issued by `start` during (start, end]; returns what was done by case."""
    from ..models import ReferralCode

    rng = random.Random(f"{seed}:{start.isoformat()}")
    store = SandboxStore(engine)
    give_referrers_addresses()
    used = set(Order.objects.exclude(voucher_code="").values_list("voucher_code", flat=True))
    codes = list(ReferralCode.objects.filter(issued_at__lte=start).exclude(code__in=used).order_by("id"))
    vouchers = {v.code: v for v in Voucher.objects.filter(code__in=[c.code for c in codes], shareable=True)}
    done: Counter = Counter()
    span = (end - start).total_seconds()
    for number, code in enumerate(codes):
        voucher = vouchers.get(code.code)
        if voucher is None or voucher.valid_until <= end or rng.random() > DAILY_USE:
            continue
        clock.now = start + timedelta(seconds=span * (number + 1) / (len(codes) + 1))
        case = rng.choices(["new", "shared address", "second code", "not new", "own code"],
                           weights=[70, 8, 7, 8, 7])[0]
        total = Decimal(rng.randrange(30, 120))
        try:
            if case == "own code":
                # The owner as the store has them now (an account may be gone since the code was issued).
                owner = (get_user_model().objects.filter(pk=voucher.customer_user_id).first()
                         if voucher.customer_user_id else None)
                if owner is None and not voucher.customer_email:
                    continue
                store.place_order(owner or voucher.customer_email, total,
                                  channel=voucher.channel.slug, voucher=code.code)
            elif case == "not new":
                regular = (Order.objects.filter(channel=voucher.channel, user__isnull=True)
                           .exclude(user_email__iexact=voucher.customer_email).order_by("created_at").first())
                if regular is None:
                    continue
                store.place_order(regular.user_email, total, channel=voucher.channel.slug, voucher=code.code,
                                  ship_to=f"{number} Regular Road, Shelbyville")
            else:
                earlier = (Order.objects.filter(user_email__startswith="friend-", channel=voucher.channel)
                           .exclude(voucher_code="").order_by("created_at").first())
                if case == "second code" and earlier is not None:
                    email, ship_to = earlier.user_email, earlier.shipping_address
                else:
                    case = "new" if case == "second code" else case
                    email = f"friend-{code.pk}-{number}@example.com"
                    ship_to = (_referrer_address(voucher) if case == "shared address"
                               else f"{number + 1} Friend Lane, Capital City")
                store.place_order(email, total, channel=voucher.channel.slug, voucher=code.code, ship_to=ship_to)
        except VoucherRefused:
            done[f"{case} (refused at checkout)"] += 1
            continue
        done[case] += 1
    clock.now = end
    return done


def give_referrers_addresses() -> int:
    """Give every referrer's orders the address `make_referrals` ships the shared-address case to
    (the generated history has no shipping addresses); returns how many orders changed.

    Two set-based UPDATEs (by account, then by e-mail), not one per referrer: the replay
    calls this every day with more codes each day."""
    from django.db import connection

    from ..models import ReferralCode

    owners = list(Voucher.objects.filter(shareable=True, code__in=ReferralCode.objects.values("code"))
                  .values_list("customer_email", "customer_user_id"))
    if not owners:
        return 0
    emails = [email.strip().lower() for email, _ in owners]
    user_ids = [user_id for _, user_id in owners]
    addresses = [_referrer_address_of(email) for email, _ in owners]
    table = Order._meta.db_table
    changed = 0
    with connection.cursor() as cursor:
        for match in ("o.user_id = v.user_id", "lower(o.user_email) = v.email"):
            cursor.execute(f"""
                UPDATE {table} o SET shipping_address = v.address
                FROM unnest(%s::text[], %s::bigint[], %s::text[]) AS v(email, user_id, address)
                WHERE o.shipping_address = '' AND v.email <> '' AND {match}""", [emails, user_ids, addresses])
            changed += cursor.rowcount
    return changed
