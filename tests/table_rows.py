"""What a run wrote, comparable with another run's whatever the order rows came in."""

from __future__ import annotations

from django.db import connection


def table_rows(selects: dict[str, str]) -> dict[str, list]:
    """Each named SELECT's rows, sorted."""
    with connection.cursor() as cursor:
        found = {}
        for name, select in selects.items():
            cursor.execute(select)
            found[name] = sorted(cursor.fetchall(), key=repr)
        return found
