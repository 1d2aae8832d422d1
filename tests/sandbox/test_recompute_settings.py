"""Changing settings in the sandbox (`lifecycle-sandbox settings`) recomputes whom they
affect; `lifecycle_recompute` shows and runs it; a worker SIGKILLed halfway resumes to the
same result; a refused value changes nothing and names its field; the staff field shows
the progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from argparse import Namespace
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from lifecycle_plugin.engine.backfill import backfill
from lifecycle_plugin.models import CustomerProfile, RecomputeRun, StageTransition
from lifecycle_plugin.runtime import get_engine
from lifecycle_plugin.sandbox.commands.common import Out
from lifecycle_plugin.sandbox.commands.settings import cmd_settings
from lifecycle_plugin.sandbox.host import SandboxHost
from lifecycle_plugin.sandbox.models import StoredSetting
from tests.contract.test_sandbox_host import SandboxStoreAdapter

DAY = timedelta(days=1)


def settings_command(*assignments, no_run=False, now=None):
    out = StringIO()
    printer = Out(progress=False)
    printer.stream = out
    code = cmd_settings(Namespace(assignments=list(assignments), no_run=no_run, chunk_size=3,
                                  now=now.isoformat() if now else None), printer)
    return code, out.getvalue()


def a_store(customers: int, now):
    """`customers` one-order buyers, 10 to 200 days since their order, backfilled."""
    store = SandboxStoreAdapter()
    ages = {}
    for i in range(customers):
        days = 10 + (i * 37) % 191
        email = f"c{i:04d}@example.com"
        store.order(email, placed_at=now - days * DAY)
        ages[email] = days
    backfill(get_engine(SandboxHost(), clock=lambda: now))
    return ages


def expected_stage(days: int, at_risk_days: int) -> str:
    return "lapsed" if days >= 180 else "at_risk" if days >= at_risk_days else "new"


@pytest.mark.django_db
def test_the_sandbox_settings_command_saves_and_recomputes_quietly():
    now = timezone.now().replace(microsecond=0)
    ages = a_store(30, now)
    code, text = settings_command("at_risk_days=60", now=now)
    assert code == 0, text
    assert StoredSetting.objects.get(name="at_risk_days").value == "60"
    stages = dict(CustomerProfile.objects.values_list("email", "stage"))
    assert stages == {email: expected_stage(days, 60) for email, days in ages.items()}
    moved = {email for email, days in ages.items() if 60 <= days < 90}
    assert set(StageTransition.objects.filter(reason="settings_change").values_list("profile__email", flat=True)) == moved
    assert f"30/30 profiles, {len(moved)} moved" in text


@pytest.mark.django_db
def test_a_value_the_sql_evaluator_cannot_decide_is_refused_naming_the_field():
    code, text = settings_command("personal_gap_multiplier=1.23456789012")
    assert code == 2 and "Personal rhythm: multiplier" in text and "10 significant digits" in text
    assert not StoredSetting.objects.exists() and not RecomputeRun.objects.exists()


@pytest.mark.django_db
def test_a_setting_no_stage_depends_on_opens_no_run():
    code, text = settings_command("hook_timeout_seconds=20")
    assert code == 0 and "nothing to recompute" in text and not RecomputeRun.objects.exists()


@pytest.mark.django_db
def test_the_status_command_shows_done_and_total():
    now = timezone.now().replace(microsecond=0)
    a_store(7, now)
    settings_command("at_risk_days=60", no_run=True)
    out = StringIO()
    call_command("lifecycle_recompute", "--status", stdout=out)
    assert "queued, 0/0 profiles" in out.getvalue()  # the total is counted when a worker starts
    call_command("lifecycle_recompute", "--run", "--chunk-size", "2", stdout=out)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM lifecycle_plugin_customerprofile WHERE orders_count > 0")
        buyers = cursor.fetchone()[0]
    assert f"done, {buyers}/{buyers} profiles" in out.getvalue()
    waited = StringIO()
    call_command("lifecycle_recompute", "--wait", "--every", "0.01", stdout=waited)  # returns once done
    assert waited.getvalue().strip().endswith("ETA 0 s; sorted in SQL from the ladder digests, the event path "
                                              "deciding the profiles that can move")


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_halfway_resumes_to_the_result_of_an_uninterrupted_run():
    now = timezone.now().replace(microsecond=0)
    ages = a_store(120, now)
    code, text = settings_command("at_risk_days=60", no_run=True)
    assert code == 0, text
    env = {**os.environ, "DATABASE_URL": _database_url(), "DJANGO_SETTINGS_MODULE": "lifecycle_plugin.sandbox.settings"}
    code = ("import django; django.setup(); from django.core.management import call_command; "
            "call_command('lifecycle_recompute', '--run', '--chunk-size', '1')")
    worker = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run = RecomputeRun.objects.get()
            if run.done >= 5:
                break
            assert worker.poll() is None, worker.stderr.read().decode()
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    killed = RecomputeRun.objects.get()
    assert worker.returncode == -signal.SIGKILL
    assert 0 < killed.done < killed.total == 120 and killed.state == "running"

    # PostgreSQL ends the killed worker's session (and its advisory lock on the run) once it
    # notices the socket closed; a new worker started before that would rightly stay off.
    deadline = time.monotonic() + 30
    while _advisory_locks_of_others() and time.monotonic() < deadline:
        time.sleep(0.05)
    out = StringIO()
    call_command("lifecycle_recompute", "--run", stdout=out)  # resumes after the last committed chunk

    finished = RecomputeRun.objects.get()
    assert (finished.state, finished.done, finished.total, finished.open) == ("done", 120, 120, None)
    stages = dict(CustomerProfile.objects.values_list("email", "stage"))
    assert stages == {email: expected_stage(days, 60) for email, days in ages.items()}
    moved = sorted(email for email, days in ages.items() if 60 <= days < 90)
    recorded = sorted(StageTransition.objects.filter(reason="settings_change").values_list("profile__email", flat=True))
    assert recorded == moved  # each once: nothing moved twice across the kill
    assert finished.moved == len(moved)


def _advisory_locks_of_others() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def _database_url() -> str:
    """The test database's URL for a child process; the embedded server's host is a socket
    folder, percent-encoded as its URL has it."""
    from urllib.parse import quote

    db = connection.settings_dict
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgresql://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"
