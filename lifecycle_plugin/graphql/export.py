"""Write the schema to ``lifecycle_plugin/graphql/schema.graphql`` (or check it is current).

    python -m lifecycle_plugin.graphql.export           # rewrite schema.graphql
    python -m lifecycle_plugin.graphql.export --check   # exit 1 if it is out of date
    python -m lifecycle_plugin.graphql.export --federation -o subgraph.graphql
                                                        # the `_service { sdl }` form

The schema does not depend on the store's settings or database, so this needs
neither; without DJANGO_SETTINGS_MODULE it configures a minimal Django.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

SCHEMA_FILE = Path(__file__).with_name("schema.graphql")


def current_sdl(*, federation: bool = False) -> str:
    from .schema import schema
    from .sdl import print_sdl

    return print_sdl(schema, federation=federation)


def _setup_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure(
            INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "lifecycle_plugin"],
            DEFAULT_AUTO_FIELD="django.db.models.BigAutoField",
            USE_TZ=True,
        )
    django.setup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lifecycle_plugin.graphql.export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="Only compare; exit 1 if the file is out of date.")
    parser.add_argument("--federation", action="store_true", help="Print the federation subgraph SDL instead.")
    parser.add_argument("-o", "--output", type=Path, default=None, help=f"Where to write (default {SCHEMA_FILE}).")
    options = parser.parse_args(argv)
    _setup_django()

    sdl = current_sdl(federation=options.federation)
    target = options.output or SCHEMA_FILE
    if options.check:
        if not target.exists() or target.read_text() != sdl:
            print(f"{target} is out of date; run: python -m lifecycle_plugin.graphql.export", file=sys.stderr)
            return 1
        print(f"{target} is up to date.")
        return 0
    target.write_text(sdl)
    print(f"Wrote {target}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
