"""The built-in actions end to end on the sandbox host: its vouchers, outbox and consent metadata."""

from datetime import timedelta
from decimal import Decimal

import pytest

from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.host_support import VOUCHER_CODE_LENGTH
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import CustomerMetadata, OutboxMessage, Voucher
from lifecycle_plugin.sandbox.store import SandboxStore

from .conftest import build_engine, only

pytestmark = pytest.mark.django_db


@pytest.fixture
def store(clock, django_capture_on_commit_callbacks):
    engine = build_engine(SandboxHost(), clock, only("repeat_purchase", marketing_consent_key="marketing"))

    class CommittingStore(SandboxStore):
        """Runs the after-commit work inline, as the sandbox does outside a test transaction."""

        def notify(self, customer, event):
            with django_capture_on_commit_callbacks(execute=True):
                return super().notify(customer, event)

    return CommittingStore(engine)


def consent(user, public=None, private=None):
    CustomerMetadata.objects.update_or_create(
        user=user, defaults={"metadata": public or {}, "private_metadata": private or {}}
    )


def test_voucher_and_message_in_the_sandbox_store(store, clock):
    ann = store.register("Ann@Example.com", first_name="Ann")
    consent(ann, public={"marketing": "yes"})
    store.place_order(ann, "80.00", channel="channel-pln")

    [voucher] = Voucher.objects.all()
    assert voucher.channel.slug == "channel-pln" and voucher.discount_type == "percentage"
    assert voucher.value == Decimal("10") and voucher.single_use
    assert voucher.customer_email == "ann@example.com" and voucher.valid_until == clock.now + timedelta(days=30)
    assert voucher.code.startswith("LC-") and len(voucher.code) == len("LC-") + VOUCHER_CODE_LENGTH
    [message] = OutboxMessage.objects.all()
    assert message.action == "repeat_purchase" and message.email == "ann@example.com"
    assert voucher.code in message.text and message.payload["voucher"]["code"] == voucher.code
    assert message.channel == "channel-pln"


def test_no_consent_in_the_sandbox_metadata_no_voucher(store):
    bob = store.register("bob@example.com")
    consent(bob, public={"marketing": "yes"}, private={"marketing": "no"})  # the shop's record wins
    store.place_order(bob)
    store.place_order("guest@example.com")  # guests have no metadata: no consent
    assert not Voucher.objects.exists() and not OutboxMessage.objects.exists()


def test_sandbox_consent_lookup():
    host = SandboxHost()
    store = SandboxStore()
    ann, bob, cy = (store.register(f"{n}@example.com") for n in ("ann", "bob", "cy"))
    consent(ann, public={"marketing": "granted"})
    consent(bob, public={"marketing": "true"}, private={"marketing": False})
    consent(cy, public={"marketing": True})
    refs = [CustomerRef("ann@example.com", ann.pk), CustomerRef("bob@example.com", bob.pk),
            CustomerRef("cy@example.com", cy.pk), CustomerRef("guest@example.com"),
            CustomerRef("ann@example.com")]  # consent is looked up by account id, not by e-mail
    assert host.marketing_consent(refs, "marketing") == dict(zip(refs, [True, False, True, False, False]))
    assert host.marketing_consent(refs, "other") == dict.fromkeys(refs, False)
