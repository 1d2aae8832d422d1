"""The management commands, written once and run on every host.

`lifecycle_backfill` and `lifecycle_sweep` through Django's `call_command`, on the
store a `store` fixture (a host contract StoreAdapter) fills. The sandbox host runs
it in tests/sandbox/test_commands.py, the Saleor host in tests/saleor/test_commands.py.
"""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from freezegun import freeze_time

from lifecycle_plugin import tasks
from lifecycle_plugin.models import BackfillRun, CustomerProfile, StageTransition

NOW = timezone.now()
EXPECTED = {
    "a-lead@example.com": "lead",
    "b-new@example.com": "new",
    "c-repeat@example.com": "repeat",
    "d-lapsed@example.com": "lapsed",
    "e-visitor@example.com": "visitor",
}


def run(*args) -> str:
    out = StringIO()
    if args[0] == "lifecycle_backfill":
        args = (*args, "--no-progress")
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


class CommandContract:
    """Subclass with a `store` fixture (and whatever switches the plugin on for the host)."""

    @pytest.fixture
    def history(self, store):
        store.account("a-lead@example.com")
        store.order("b-new@example.com", user_id=store.account("b-new@example.com"), placed_at=NOW - timedelta(days=3))
        for days in (40, 10):
            store.order("C-Repeat@example.com", placed_at=NOW - timedelta(days=days))
        store.order("d-lapsed@example.com", placed_at=NOW - timedelta(days=300), currency="PLN")
        # A guest known by an e-mail only: an empty checkout and a cancelled order.
        store.checkout("e-visitor@example.com", lines=0)
        store.order("e-visitor@example.com", placed_at=NOW - timedelta(days=5), status="canceled")
        return store

    def test_backfill_dry_run_prints_the_distribution_and_writes_nothing(self, history):
        output = run("lifecycle_backfill", "--dry-run")

        assert "Would write 5 profiles" in output
        lines = {line.split()[0]: line.split()[1:] for line in output.splitlines()[1:]}
        assert lines["lead"] == ["1", "20.0%"] and lines["repeat"] == ["1", "20.0%"]
        assert lines["loyal"] == ["0", "0.0%"] and lines["at_risk"] == ["0", "0.0%"]
        assert not CustomerProfile.objects.exists() and not BackfillRun.objects.exists()


    @pytest.mark.parametrize("evaluator", ["python", "sql"])
    def test_backfill_resumes_an_interrupted_run(self, history, evaluator):
        interrupted = BackfillRun.objects.create(chunk_size=2, last_email="b-new@example.com", customers_done=2)

        output = run("lifecycle_backfill", "--chunk-size", "2", "--evaluator", evaluator)

        assert "Resuming after b-new@example.com (2 customers done)." in output
        assert "Wrote 3 profiles (3 new, 0 updated" in output
        assert dict(CustomerProfile.objects.values_list("email", "stage")) == {
            email: stage for email, stage in EXPECTED.items() if email > "b-new@example.com"
        }
        interrupted.refresh_from_db()
        assert interrupted.finished_at is not None and interrupted.customers_done == 5
        assert interrupted.last_email == "e-visitor@example.com"

        # The next run starts afresh and leaves what is already right alone.
        output = run("lifecycle_backfill", "--chunk-size", "2", "--evaluator", evaluator)
        assert "Resuming" not in output and "(2 new, 3 updated" in output
        assert dict(CustomerProfile.objects.values_list("email", "stage")) == EXPECTED
        if evaluator == "python":  # every history row dated at the backfill
            assert set(StageTransition.objects.values_list("reason", flat=True)) == {"backfill"}
            assert StageTransition.objects.count() == 5
        else:  # the history the event path would have written, dated from the orders
            assert "Decided in SQL" in output
            day = timedelta(days=1)
            moves = {(t.profile.email, t.from_stage, t.to_stage, t.reason, t.occurred_at.date())
                     for t in StageTransition.objects.select_related("profile")}
            assert moves == {
                ("a-lead@example.com", None, "lead", "backfill", timezone.now().date()),
                ("b-new@example.com", None, "new", "event", (NOW - 3 * day).date()),
                ("c-repeat@example.com", None, "new", "event", (NOW - 40 * day).date()),
                ("c-repeat@example.com", "new", "repeat", "event", (NOW - 10 * day).date()),
                ("d-lapsed@example.com", None, "new", "event", (NOW - 300 * day).date()),
                ("d-lapsed@example.com", "new", "at_risk", "time", (NOW - 210 * day).date()),
                ("d-lapsed@example.com", "at_risk", "lapsed", "time", (NOW - 120 * day).date()),
                ("e-visitor@example.com", None, "visitor", "backfill", timezone.now().date()),
            }
            assert StageTransition.objects.count() == 8
        user_id = CustomerProfile.objects.get(email="b-new@example.com").user_id
        assert history.public_metadata(user_id)["lifecycle.stage"] == "new"


    def test_sweep_command_applies_the_time_based_moves(self, history):
        run("lifecycle_backfill")

        # At risk 90 days after the last order: repeat (10 days ago) at +80, new (3 days ago)
        # at +87; lead, visitor and lapsed have no time-based move ahead.
        with freeze_time(NOW + timedelta(days=79)):
            output = run("lifecycle_sweep")
        assert output.startswith("Swept 0 due profiles")
        with freeze_time(NOW + timedelta(days=88)):
            output = run("lifecycle_sweep")
        assert output.startswith("Swept 2 due profiles: 2 stage changes")
        stages = dict(CustomerProfile.objects.values_list("email", "stage"))
        assert stages["b-new@example.com"] == stages["c-repeat@example.com"] == "at_risk"

    def test_sweep_command_also_calls_failed_hooks_again_as_the_periodic_task_does(self, history, monkeypatch):
        from lifecycle_plugin.engine import LifecycleEngine

        retried = []
        retry = LifecycleEngine.retry_hook_failures

        def spy(engine, *args, **kwargs):
            retried.append(retry(engine, *args, **kwargs))
            return 2

        monkeypatch.setattr(LifecycleEngine, "retry_hook_failures", spy)

        output = run("lifecycle_sweep")
        assert retried == [0] and "; 2 failed hook calls retried." in output
        run("lifecycle_sweep", "--no-actions")
        assert retried == [0]


    def test_backfill_fans_out_one_celery_task_per_chunk(self, history, monkeypatch):
        chunks: list[list] = []
        run_chunk = tasks.backfill_chunk.run

        def record(customers):
            chunks.append([email for email, _ in customers])
            return run_chunk(customers)

        monkeypatch.setattr(tasks.backfill_chunk, "run", record)

        # Tasks are eager in these tests (no broker), so each chunk runs as a worker would run it.
        output = run("lifecycle_backfill", "--fan-out", "--chunk-size", "2")

        assert output.strip() == "Queued 3 backfill chunks of up to 2 customers."
        assert chunks == [sorted(EXPECTED)[0:2], sorted(EXPECTED)[2:4], sorted(EXPECTED)[4:]]
        assert dict(CustomerProfile.objects.values_list("email", "stage")) == EXPECTED
        assert set(StageTransition.objects.values_list("reason", flat=True)) == {"backfill"}
