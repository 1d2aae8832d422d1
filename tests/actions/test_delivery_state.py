"""A message is committed as "sending" before it leaves: a worker that dies mid-way never sends it twice.

And the mail connection has a time limit: a mail server that stops answering fails
the delivery (or leaves it in doubt) instead of holding the worker.
"""

import logging
import socket
import threading
import time
from datetime import timedelta

import pytest
from django.core import mail
from django.core.mail.backends import locmem
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from lifecycle_plugin import hookimpl
from lifecycle_plugin.actions import delivery
from lifecycle_plugin.engine import Delivery
from lifecycle_plugin.host import CustomerRef
from lifecycle_plugin.models import ActionLedgerEntry, ActionStatus, HookFailure
from lifecycle_plugin.tasks import report_unsure_deliveries

from .conftest import T0, buy, build_engine, only

pytestmark = pytest.mark.django_db

ANN = "ann@example.com"


class WorkerKilled(BaseException):
    """Stands for the worker process dying: nothing in the plugin catches it."""


def accept_then_die(monkeypatch):
    """The mail backend takes the message, then the worker dies before anything else happens."""
    send_messages = locmem.EmailBackend.send_messages

    def accepted_then_killed(self, messages):
        send_messages(self, messages)
        raise WorkerKilled

    monkeypatch.setattr(locmem.EmailBackend, "send_messages", accepted_then_killed)


def test_a_worker_that_dies_after_the_mail_server_took_the_message_never_sends_it_again(
        make_shop, host, monkeypatch, capsys, caplog):
    shop = make_shop(only("repeat_purchase", delivery_channel="email"))
    buy(host, ANN, T0)
    accept_then_die(monkeypatch)
    with pytest.raises(WorkerKilled):
        shop.process(ANN)
    monkeypatch.undo()  # the next worker's mail works
    assert len(mail.outbox) == 1

    [entry] = shop.entries("repeat_purchase")
    assert entry.status == ActionStatus.SENDING  # committed before the message left
    assert entry.result["voucher_code"] == host.issued[0].code  # what it announced is on record
    assert list(shop.engine.unsure_deliveries()) == []  # it could still be in flight: not reported yet

    assert shop.run_entries([entry.pk]) == 0  # a worker handed its id does not take it
    ActionLedgerEntry.objects.filter(pk=entry.pk).update(updated_at=timezone.now() - timedelta(minutes=11))
    assert shop.retry() == 0  # nor does the retry task, however old it is
    assert len(mail.outbox) == 1

    # Reported once it is clearly not in flight any more: by the periodic task's log, and the command.
    assert [row.pk for row in shop.engine.unsure_deliveries()] == [entry.pk]
    with caplog.at_level(logging.WARNING, logger="lifecycle_plugin.tasks"):
        assert report_unsure_deliveries(shop.engine) == 1
    assert f"1 message(s) may or may not have been delivered and are not sent again (ledger entries {entry.pk})" \
        in caplog.text and "lifecycle_deliveries" in caplog.text
    call_command("lifecycle_deliveries")
    listing = capsys.readouterr().out
    assert "1 message(s) may or may not have been delivered" in listing
    assert f"{entry.pk}  sending" in listing and ANN in listing and entry.dedupe_key in listing

    # The owner found it in the mail server's log: settled, and still not sent again.
    call_command("lifecycle_deliveries", "--mark-sent", str(entry.pk))
    entry.refresh_from_db()
    assert entry.status == ActionStatus.DONE and entry.completed_at is not None
    assert list(shop.engine.unsure_deliveries()) == []
    assert shop.retry() == 0 and len(mail.outbox) == 1


def test_the_owner_can_have_a_message_in_doubt_sent_again(make_shop, host, monkeypatch, capsys):
    shop = make_shop(only("repeat_purchase", delivery_channel="email"))
    buy(host, ANN, T0)
    accept_then_die(monkeypatch)
    with pytest.raises(WorkerKilled):
        shop.process(ANN)
    monkeypatch.undo()
    [entry] = shop.entries("repeat_purchase")
    ActionLedgerEntry.objects.filter(pk=entry.pk).update(updated_at=timezone.now() - timedelta(minutes=11))

    call_command("lifecycle_deliveries", "--resend", str(entry.pk))
    assert shop.retry() == 1
    entry.refresh_from_db()
    assert entry.status == ActionStatus.DONE and len(mail.outbox) == 2  # the owner's choice
    with pytest.raises(Exception, match="not in doubt"):
        call_command("lifecycle_deliveries", "--resend", str(entry.pk))


def test_a_delivered_message_ends_done_with_what_it_announced_and_the_channels_receipt(make_shop, host):
    shop = make_shop(only("repeat_purchase", delivery_channel="email"))
    buy(host, ANN, T0)
    shop.process(ANN)
    [email] = mail.outbox
    [entry] = shop.entries("repeat_purchase")
    assert entry.status == ActionStatus.DONE and entry.completed_at == T0
    assert entry.result == {"voucher_code": host.issued[0].code, "subject": email.subject, "delivered_by": "email",
                            "reference": email.extra_headers["Message-ID"],
                            "marketing": True, "sent_at": T0.isoformat()}  # what the frequency cap counts
    assert list(shop.engine.unsure_deliveries()) == []


@pytest.mark.django_db(transaction=True)
def test_the_sending_state_is_committed_before_the_message_leaves(host, clock):
    seen = []

    class Witness:
        """A channel that, before passing the message on, asks another connection what the ledger says."""

        @hookimpl
        def lifecycle_deliver_message(self, message):
            def look():
                try:
                    seen.append(ActionLedgerEntry.objects.get(dedupe_key=message.payload["dedupe_key"]).status)
                finally:
                    connection.close()

            other = threading.Thread(target=look)
            other.start()
            other.join(10)
            return None  # the owner's channel delivers it

    engine = build_engine(host, clock, only("repeat_purchase"), plugins=[Witness()])
    buy(host, ANN, T0)
    engine.process(CustomerRef(ANN), event="order_created")  # after-commit work runs inline
    assert seen == [ActionStatus.SENDING]
    assert len(host.messages) == 1
    assert ActionLedgerEntry.objects.get(action="repeat_purchase").status == ActionStatus.DONE


def test_a_channel_that_hangs_leaves_the_message_in_doubt_and_passes_it_on_to_nobody(make_shop, host):
    class HangingSms:
        @hookimpl
        def lifecycle_deliver_message(self, message):
            time.sleep(5)  # the gateway took the text and never answered

    shop = make_shop(only("repeat_purchase", hook_timeout_seconds="0.2"), plugins=[HangingSms()])
    buy(host, ANN, T0)
    started = time.monotonic()
    shop.process(ANN)
    assert time.monotonic() - started < 2
    assert host.messages == []  # not sent a second time by the owner's channel
    [entry] = shop.entries("repeat_purchase")
    assert entry.status == ActionStatus.UNCERTAIN and "HookTimeout" in entry.last_error
    assert HookFailure.objects.get(hook="lifecycle_deliver_message").error.startswith("HookTimeout:")
    assert [row.pk for row in shop.engine.unsure_deliveries()] == [entry.pk]  # shown at once
    assert shop.retry() == 0 and host.messages == []


def test_the_built_in_notify_channel_is_cut_off_too(make_shop, host, monkeypatch):
    def hanging(message):
        time.sleep(5)  # Saleor's notify: a plugin or the broker that stopped answering

    monkeypatch.setattr(host, "deliver_message", hanging)
    shop = make_shop(only("repeat_purchase", delivery_channel="notify", hook_timeout_seconds="0.2"))
    buy(host, ANN, T0)
    started = time.monotonic()
    shop.process(ANN)
    assert time.monotonic() - started < 2
    [entry] = shop.entries("repeat_purchase")
    assert entry.status == ActionStatus.UNCERTAIN
    assert "lifecycle_plugin.actions.delivery may have delivered" in entry.last_error


def test_a_third_party_delivery_that_hangs_is_cut_off_and_left_in_doubt(make_shop, host):
    class SlowSms:
        @hookimpl
        def lifecycle_run_action(self, context, entry):
            if entry.action != "sms_thanks":
                return None

            def send():
                time.sleep(5)  # the gateway took the text and never answered
                return {"sms": "never"}

            return Delivery(result={"text": "Thanks"}, send=send)

        @hookimpl
        def lifecycle_stage_changed(self, context, change):
            context.enqueue("sms_thanks", key=change.to_stage)

    shop = make_shop(only("repeat_purchase", repeat_purchase_enabled="false", hook_timeout_seconds="0.2"),
                     plugins=[SlowSms()])
    buy(host, ANN, T0)
    started = time.monotonic()
    shop.process(ANN)
    assert time.monotonic() - started < 2
    [entry] = shop.entries("sms_thanks")
    assert entry.status == ActionStatus.UNCERTAIN and entry.last_error.startswith("HookTimeout: the delivery of")
    assert entry.result == {"text": "Thanks"}
    assert shop.retry() == 0


# ---------------------------------------------------------------------------- SMTP time limits

class StallingSmtpServer:
    """A mail server on a local port that stops answering at `stall`: "greeting" or "after_data"."""

    def __init__(self, stall):
        self.stall = stall
        self.received = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        conn, _ = self.listener.accept()
        with conn, conn.makefile("rb") as lines:
            if self.stall == "after_data":
                conn.sendall(b"220 ready\r\n")
                while (line := lines.readline()) and not line.upper().startswith(b"DATA"):
                    conn.sendall(b"250 ok\r\n")
                conn.sendall(b"354 go ahead\r\n")
                body = []
                while (line := lines.readline()) and line != b".\r\n":
                    body.append(line)
                self.received.append(b"".join(body))  # taken; the reply never comes
            while conn.recv(1024):  # silent until the client hangs up
                pass

    def close(self):
        self.listener.close()


@pytest.fixture
def smtp(settings):
    servers = []

    def start(stall):
        server = StallingSmtpServer(stall)
        servers.append(server)
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        return server

    yield start
    for server in servers:
        server.close()


def spy_on_connections(monkeypatch):
    opened = []
    get_connection = delivery.get_connection

    def spy(*args, **kwargs):
        opened.append(get_connection(*args, **kwargs))
        return opened[-1]

    monkeypatch.setattr(delivery, "get_connection", spy)
    return opened


@pytest.mark.parametrize("email_timeout, expected", [(None, 0.3), (0.25, 0.25), (30, 0.3)])
def test_the_smtp_connection_has_a_timeout(make_shop, host, smtp, settings, monkeypatch, email_timeout, expected):
    settings.EMAIL_TIMEOUT = email_timeout  # Django's own setting; unset (None) in Saleor
    smtp("greeting")
    opened = spy_on_connections(monkeypatch)
    shop = make_shop(only("repeat_purchase", delivery_channel="email", hook_timeout_seconds="0.3"))
    buy(host, ANN, T0)
    started = time.monotonic()
    shop.process(ANN)
    assert time.monotonic() - started < 2
    [connection_used] = opened
    assert connection_used.timeout == expected
    [entry] = shop.entries("repeat_purchase")
    # Nothing was handed over before the server went silent: failed, and retried later.
    assert entry.status == ActionStatus.FAILED and entry.last_error.startswith("DeliveryFailed: no delivery channel")
    assert "timed out" in entry.last_error or "did not answer" in entry.last_error


def test_a_mail_server_that_goes_silent_after_taking_the_message_leaves_it_in_doubt(make_shop, host, smtp):
    server = smtp("after_data")
    shop = make_shop(only("repeat_purchase", delivery_channel="email", hook_timeout_seconds="0.3"))
    buy(host, ANN, T0)
    started = time.monotonic()
    shop.process(ANN)
    assert time.monotonic() - started < 2
    assert len(server.received) == 1  # the server has the message...
    [entry] = shop.entries("repeat_purchase")
    assert entry.status == ActionStatus.UNCERTAIN  # ...so it is not sent again
    assert "may have" in entry.last_error
    assert shop.retry() == 0
