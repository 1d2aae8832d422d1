"""Decide the stage and tier of every existing customer from the store's order history."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from tqdm import tqdm

from ...engine.backfill import BackfillReport, backfill
from ...models import BackfillRun
from ...runtime import allow_writer, get_engine
from ...rules import Stage


class Command(BaseCommand):
    help = (
        "Backfill lifecycle profiles for every customer (accounts and guest e-mails) from the order "
        "history. Resumes an interrupted run unless --restart is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=2000, help="Customers per chunk (default 2000).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Write nothing; print the stage distribution the backfill would write.")
        parser.add_argument("--restart", action="store_true", help="Start from the first customer again.")
        parser.add_argument("--fan-out", action="store_true",
                            help="Queue one Celery task per chunk instead of working here (needs workers).")
        parser.add_argument("--no-progress", action="store_true", help="Hide the progress bar.")
        parser.add_argument("--evaluator", choices=("auto", "sql", "python"), default="auto",
                            help="auto (default): customers without a profile are decided in SQL, with their "
                                 "history dated from their orders, when the host offers SQL and no "
                                 "lifecycle_collect_facts/lifecycle_classify hook is installed; python: every "
                                 "customer in Python, history dated at the backfill; sql: refuse to fall back.")
        parser.add_argument("--connections", type=int, default=2,
                            help="Database connections the SQL evaluator decides the store on at once "
                                 "(default 2; each keeps one core of the database server busy).")

    def handle(self, *args, chunk_size, dry_run, restart, fan_out, no_progress, evaluator="auto", connections=2,
               **options):
        if chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        if connections < 1:
            raise CommandError("--connections must be at least 1")
        if fan_out:
            from ...tasks import fan_out_backfill

            chunks = fan_out_backfill(chunk_size)
            self.stdout.write(f"Queued {chunks} backfill chunks of up to {chunk_size} customers.")
            return
        with allow_writer():
            self._run(chunk_size, dry_run, restart, no_progress, evaluator, connections)

    def _run(self, chunk_size, dry_run, restart, no_progress, evaluator, connections=2):
        engine = get_engine()
        run = None
        start_after = None
        if not dry_run:
            run = None if restart else BackfillRun.objects.filter(finished_at__isnull=True).first()
            if run is None:
                run = BackfillRun.objects.create(chunk_size=chunk_size)
            elif run.last_email:
                start_after = run.last_email
                self.stdout.write(f"Resuming after {run.last_email} ({run.customers_done} customers done).")
        counter = getattr(engine.host, "count_customers", None)
        total = counter() if counter else None
        bar = tqdm(total=total, initial=run.customers_done if run else 0, unit="customer",
                   disable=no_progress, desc="backfill")

        def progress(done: int, last_email: str | None) -> None:
            bar.update(done)
            if run is not None:
                run.customers_done += done
                run.last_email = last_email or run.last_email
                run.save(update_fields=["customers_done", "last_email"])

        try:
            report = backfill(engine, chunk_size=chunk_size, start_after=start_after, dry_run=dry_run,
                              progress=progress, evaluator=evaluator, connections=connections)
        except ValueError as refused:  # --evaluator sql where SQL cannot decide
            raise CommandError(str(refused)) from None
        bar.close()
        if run is not None:
            run.finished_at = timezone.now()
            run.save(update_fields=["finished_at"])
        self._print(report, dry_run)

    def _print(self, report: BackfillReport, dry_run: bool) -> None:
        profiles = sum(report.stage_counts.values())
        if dry_run:
            # Nothing was written, so there is no new/updated split to report.
            self.stdout.write(f"Would write {profiles} profiles.")
        else:
            self.stdout.write(f"Wrote {profiles} profiles "
                              f"({report.created} new, {report.updated} updated, {report.conflicts} redone).")
        total = sum(report.stage_counts.values()) or 1
        for stage in [*Stage, *sorted(set(report.stage_counts) - {s.value for s in Stage})]:
            code = getattr(stage, "value", stage)
            count = report.stage_counts.get(code, 0)
            self.stdout.write(f"  {code:<10} {count:>9}  {100 * count / total:5.1f}%")
        if report.path == "sql":
            self.stdout.write("Decided in SQL: customers without a profile got their history dated from their "
                              "orders; customers with one were recomputed in Python.")
        else:
            self.stdout.write(f"Decided in Python ({report.path_reason}).")
