"""The recompute a settings change queued (engine/recompute.py): its progress, or work on it here."""

import time

from django.core.management.base import BaseCommand, CommandError

from ...engine.recompute import describe, run_recompute, status
from ...runtime import allow_writer, get_engine


class Command(BaseCommand):
    help = ("Show the progress of the recompute a settings change queued (--status, the default), work on it "
            "in this process until it is done (--run; resumes an interrupted one), or wait for the workers to "
            "finish it (--wait).")

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--status", action="store_true", help="Print done/total, moved and the ETA (default).")
        group.add_argument("--run", action="store_true", help="Work on the open run here until it is done.")
        group.add_argument("--wait", action="store_true", help="Print the progress every few seconds until done.")
        parser.add_argument("--chunk-size", type=int, default=None,
                            help="Profiles per transaction (default 4,000 when sorted in SQL, else 500).")
        parser.add_argument("--every", type=float, default=5.0, help="Seconds between progress lines (default 5).")

    def handle(self, *args, status: bool, run: bool, wait: bool, chunk_size: int, every: float, **options):
        if chunk_size is not None and chunk_size < 1:
            raise CommandError("--chunk-size must be at least 1")
        if run:
            shown = [time.monotonic()]

            def show(state):
                if time.monotonic() - shown[0] >= every:
                    shown[0] = time.monotonic()
                    self.stdout.write(describe(state))

            with allow_writer():
                finished = run_recompute(get_engine(), chunk_size=chunk_size, progress=show)
            if finished is None:
                self.stdout.write(describe(_status()) + " (no open run, or another worker is on it)")
            else:
                self.stdout.write(describe(finished))
            return
        if wait:
            while True:
                state = _status()
                self.stdout.write(describe(state))
                if state is None or state.state == "done":
                    return
                time.sleep(every)
        self.stdout.write(describe(_status()))


def _status():
    return status()
