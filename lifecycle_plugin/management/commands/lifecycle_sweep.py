"""Advance every profile whose next-check time has passed, then run what the periodic
task `run_due_actions` runs: due scheduled actions, ledger entries to retry, and hook
implementations that raised and are due to be called again."""

from django.core.management.base import BaseCommand

from ...runtime import allow_writer, get_engine


class Command(BaseCommand):
    help = "Apply time-based moves (at risk, lapsed, loyal to repeat) that are due, and run due actions."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--no-actions", action="store_true", help="Do not run due scheduled actions, action retries or hook retries.")

    def handle(self, *args, batch_size, no_actions, **options):
        engine = get_engine()
        with allow_writer():
            report = engine.sweep(batch_size=batch_size)
            actions = hooks = 0
            if not no_actions:
                actions = engine.run_due_actions() + engine.retry_failed_entries()
                hooks = engine.retry_hook_failures()
            unsure = engine.unsure_deliveries().count()
        self.stdout.write(
            f"Swept {report.profiles} due profiles: {report.stage_changes} stage changes, "
            f"{report.tier_changes} tier changes; {actions} actions run; {hooks} failed hook calls retried."
        )
        if unsure:
            self.stdout.write(f"{unsure} message(s) may or may not have been delivered and are not sent "
                              "again: see lifecycle_deliveries.")
