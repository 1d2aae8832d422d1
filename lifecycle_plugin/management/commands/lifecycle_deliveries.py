"""Messages that may or may not have gone out, and the owner's decision about each.

A message is committed as *sending* before it leaves and *done* after. An entry still
*sending* long after (the worker died in between) or *uncertain* (the mail server
stopped answering while it took the message) is never sent again by the plugin:
sending twice is worse than asking. The owner checks the mail server's log (the
``Message-ID`` and ``X-Lifecycle-Key`` headers name the entry) and settles it here.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db.models import F
from django.db.models.functions import Least
from django.utils import timezone

from ...engine.ledger import SENDING_STALE_AFTER
from ...engine.retries import MAX_ACTION_ATTEMPTS
from ...models import ActionLedgerEntry, ActionStatus
from ...runtime import allow_writer, get_engine


class Command(BaseCommand):
    help = (
        "List ledger entries whose message may or may not have been delivered (left 'sending' by a "
        "worker that stopped, or 'uncertain'), or settle them: --mark-sent when it arrived, --resend "
        "to let the retry task send it again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--mark-sent", type=int, nargs="+", default=[], metavar="ID",
                            help="The message arrived: mark these entries done.")
        parser.add_argument("--resend", type=int, nargs="+", default=[], metavar="ID",
                            help="The message did not arrive: mark these entries failed, so they are sent again.")
        parser.add_argument("--stale-minutes", type=int, default=int(SENDING_STALE_AFTER.total_seconds() // 60),
                            help="A 'sending' entry older than this is listed (default %(default)s).")

    def handle(self, *args, mark_sent, resend, stale_minutes, **options):
        if stale_minutes < 1:
            raise CommandError("--stale-minutes must be at least 1")
        if set(mark_sent) & set(resend):
            raise CommandError("an entry cannot be both --mark-sent and --resend")
        with allow_writer():
            unsure = get_engine().unsure_deliveries(timedelta(minutes=stale_minutes))
            if mark_sent or resend:
                self._settle(unsure, mark_sent, ActionStatus.DONE, "marked sent")
                self._settle(unsure, resend, ActionStatus.FAILED, "to be sent again")
                return
            rows = list(unsure)
        if not rows:
            self.stdout.write("No message is in doubt.")
            return
        self.stdout.write(f"{len(rows)} message(s) may or may not have been delivered:")
        for row in rows:
            self.stdout.write(
                f"  {row.pk}  {row.status:<9}  {row.updated_at:%Y-%m-%d %H:%M}  {row.action}  "
                f"{row.profile.email}  {row.dedupe_key}  {row.last_error or '(the worker stopped while sending)'}"
            )

    def _settle(self, unsure, ids, status, what):
        if not ids:
            return
        found = set(unsure.filter(pk__in=ids).values_list("pk", flat=True))
        missing = sorted(set(ids) - found)
        if missing:
            raise CommandError(f"not in doubt (or not found): {', '.join(map(str, missing))}")
        now = timezone.now()
        fields = {"status": status, "updated_at": now,
                  "last_error": f"settled by the owner ({what}) at {now:%Y-%m-%d %H:%M} UTC"}
        if status == ActionStatus.DONE:
            fields["completed_at"] = now
        else:
            # The retry task takes failed entries with attempts left (after 5 minutes): make sure one is.
            fields["attempts"] = Least(F("attempts"), MAX_ACTION_ATTEMPTS - 1)
        ActionLedgerEntry.objects.filter(pk__in=found).update(**fields)
        self.stdout.write(f"{len(found)} entr{'y' if len(found) == 1 else 'ies'} {what}.")
