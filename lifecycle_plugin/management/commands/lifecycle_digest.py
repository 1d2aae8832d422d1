"""Write the ladder digest (what the set-based what-if reads) of every profile that has none
of the current version: profiles written before the digest existed. The daily task does
the same; run this once after upgrading to have `lifecycleWhatIf` answer in SQL at once."""

from django.core.management.base import BaseCommand

from ...engine.digest_writes import fill_missing, missing_count
from ...runtime import allow_writer, get_engine


class Command(BaseCommand):
    help = "Fill the ladder digests missing on profiles written before the digest existed."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="Profiles per statement (default 5000).")

    def handle(self, *args, chunk_size, **options):
        if chunk_size < 1:
            self.stderr.write("--chunk-size must be at least 1")
            raise SystemExit(2)
        engine = get_engine()
        with allow_writer():
            written = fill_missing(engine.host, engine.clock(), chunk_size)
        self.stdout.write(f"Wrote {written} ladder digests; {missing_count()} profiles still have none.")
