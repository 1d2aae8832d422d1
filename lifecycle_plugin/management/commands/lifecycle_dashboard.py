"""Register the plugin's Dashboard pages with Saleor as a third-party App.

    python manage.py lifecycle_dashboard install --url https://shop.example
    python manage.py lifecycle_dashboard update --url https://shop.example
    python manage.py lifecycle_dashboard remove

`--url` is the scheme and host under which the Dashboard's browsers reach Saleor's API
(the pages are served by the plugin on that host). Runs only inside Saleor.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Install, update or remove the lifecycle pages in the Saleor Dashboard."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["install", "update", "remove"])
        parser.add_argument("--url", help="Saleor's public base URL, e.g. https://shop.example "
                            "(needed for install and update).")

    def handle(self, *args, action: str, url: str | None = None, **options):
        try:
            from ...saleor.dashboard import registration
        except ImportError as exc:
            raise CommandError(f"lifecycle_dashboard runs inside Saleor only: {exc}") from exc

        if action == "remove":
            removed = registration.remove()
            self.stdout.write("Removed the lifecycle app." if removed else "The lifecycle app was not installed.")
            return
        if not url:
            raise CommandError(f"{action} needs --url: the base URL under which browsers reach Saleor.")
        try:
            app = getattr(registration, action)(url)
        except registration.RegistrationError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise CommandError(f"Saleor refused the app manifest: {detail}") from exc
        self.stdout.write(f"{'Installed' if action == 'install' else 'Updated'} the lifecycle app "
                          f"(id {app.pk}) at {app.app_url}. Switch the plugin on to serve its pages.")
