"""What every command shares: Django set-up, the database it runs on, printing, the engine."""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone

SETTINGS_MODULE = "lifecycle_plugin.sandbox.settings"

#: The demo shows the built-in actions at work: every one switched on, messages to the
#: sandbox outbox (the notify channel). Settings in LIFECYCLE_SETTINGS win over these.
DEMO_ACTION_SETTINGS = {
    "delivery_channel": "notify",
    "repeat_purchase_enabled": "true",
    "tier_upgrade_enabled": "true",
    "review_request_enabled": "true",
    # A week rather than the default fortnight, so the replayed days see requests fall due.
    "review_request_delay_days": "7",
    "winback_reminder_enabled": "true",
    # New accounts are welcomed (with a first-order voucher in the USD default channel).
    "welcome_enabled": "true",
    "welcome_voucher": "true",
    # Carts left in the replayed days get reminded; the synthetic store's storefront address.
    "abandoned_checkout_enabled": "true",
    "checkout_url_template": "https://shop.example.com/checkout?token={token}",
    "referral_enabled": "true",
    # Three days rather than a fortnight, so the replayed days see rewards fall due.
    "referral_return_window_days": "3",
    # The synthetic customers carry no consent metadata: the demo shows what would be sent.
    "marketing_consent_required": "false",
    # A small holdout, so the action results show a measured lift (the demo says so).
    "holdout_percent": "10",
}


def setup_django() -> None:
    # Always the sandbox's settings: `reset` empties the accounts table, so this tool
    # must never run against another project's database by accident.
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    import django

    django.setup()


def database_description() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    where = f"postgres://{db.get('USER') or ''}@{db.get('HOST') or 'localhost'}"
    where += f":{db['PORT']}" if db.get("PORT") else ""
    where += f"/{db.get('NAME')}"
    if not os.environ.get("DATABASE_URL"):
        try:
            from ..embedded_pg import data_dir

            return f"embedded PostgreSQL, data in {data_dir()} ({where})"
        except Exception:  # noqa: BLE001 - the description is informative only
            return f"embedded PostgreSQL ({where})"
    return f"DATABASE_URL {where}"


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


class Out:
    """Printing with step timings."""

    def __init__(self, progress: bool = True):
        self.stream = sys.stdout
        self.progress = progress

    def __call__(self, text: str = "") -> None:
        print(text, file=self.stream, flush=True)

    @contextmanager
    def step(self, title: str):
        self(f"- {title} ...")
        started = time.perf_counter()
        yield
        self(f"  done in {time.perf_counter() - started:.1f}s")

    def bar(self, total: int | None, desc: str, unit: str = "customer"):
        from tqdm import tqdm

        return tqdm(total=total, desc=f"  {desc}", unit=unit, unit_scale=True, disable=not self.progress,
                    file=sys.stderr, leave=False, dynamic_ncols=True)


def parse_now(text: str | None) -> datetime:
    if not text:
        return datetime.now(timezone.utc).replace(microsecond=0)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def make_engine(host, clock, *, demo_actions: bool = False):
    """An engine with the owner's settings (LIFECYCLE_SETTINGS); `demo_actions` switches the actions on first."""
    from ...runtime import get_engine

    return get_engine(host, defaults=DEMO_ACTION_SETTINGS if demo_actions else None, clock=clock)


def emptying_the_store(out: Out) -> None:
    from ..generator import reset_store

    with out.step("emptying the sandbox store and the lifecycle tables"):
        reset_store()
