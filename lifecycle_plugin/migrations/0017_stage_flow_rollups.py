# The stage flow's rollups (`stage_flow_model`), kept in step with the stage history by
# statement-level triggers on it: for the profiles a statement changed, what their history
# contributed before is taken away and what it contributes now is added, in the same
# transaction, whoever wrote (the event path, the sweep, the backfill, a merge, a deletion).
# Existing history is rolled up here once.
#
# The SQL is frozen in this migration, the conversion paths with it: a change to
# `engine.stage_flow.PATHS` needs a migration that replaces the function (a test compares them).

from django.db import migrations, models

HISTORY = "lifecycle_plugin_stagetransition"
COUNTS = "lifecycle_plugin_stagecountchange"
ENTRIES = "lifecycle_plugin_stageentry"
COLUMNS = "profile_id, id, occurred_at, from_stage, to_stage, reason"

#: (path, from-stages, to-stages), as `engine.stage_flow.PATHS` has them.
PATHS = (
    ("lead_to_new", ("lead",), ("new", "repeat", "loyal")),
    ("new_to_repeat", ("new",), ("repeat", "loyal")),
    ("repeat_to_loyal", ("repeat",), ("loyal",)),
    ("win_back", ("at_risk", "lapsed"), ("new", "repeat", "loyal")),
)
_PATHS_VALUES = ", ".join(
    "('{}', ARRAY[{}]::text[], ARRAY[{}]::text[])".format(
        name, ", ".join(f"'{s}'" for s in sources), ", ".join(f"'{s}'" for s in targets))
    for name, sources, targets in PATHS)


def sync_sql(changed: str, kept: str, before: str, after: str) -> str:
    """One statement: the count changes of `after` (the changed profiles' history now) minus
    those of `before` (as it was), and the entries of `changed` rewritten from `after`.

    A move holds its stage from its time until the profile's next move (by time, then id):
    +1 in the hour it starts, -1 in the hour the next move ends it."""
    return f"""
        WITH changed AS ({changed}),
        kept AS ({kept}),
        before AS ({before}),
        after AS ({after}),
        held AS (
            SELECT sign, to_stage, occurred_at AS came,
                   lead(occurred_at) OVER (PARTITION BY sign, profile_id ORDER BY occurred_at, id) AS left_
            FROM (SELECT 1 AS sign, * FROM after UNION ALL SELECT -1, * FROM before) moves),
        counted AS (
            INSERT INTO {COUNTS} (hour, stage, delta)
            SELECT date_trunc('hour', d.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', h.to_stage, sum(d.delta)
            FROM held h CROSS JOIN LATERAL (VALUES (h.came, h.sign), (h.left_, -h.sign)) AS d(at, delta)
            WHERE d.at IS NOT NULL
            GROUP BY 1, 2 HAVING sum(d.delta) <> 0
            RETURNING 1),
        gone AS (DELETE FROM {ENTRIES} e USING changed c WHERE e.profile_id = c.profile_id RETURNING 1),
        steps AS (
            SELECT a.profile_id, a.id, a.occurred_at, p.path,
                   a.to_stage = ANY(p.sources) AND (a.from_stage IS NULL OR a.from_stage <> ALL(p.sources))
                       AND a.reason <> 'settings_change' AS is_entry,
                   min(a.occurred_at) FILTER (WHERE a.to_stage = ANY(p.targets) AND a.reason <> 'settings_change')
                       OVER (PARTITION BY a.profile_id, p.path ORDER BY a.occurred_at, a.id
                             ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS converted_at
            FROM after a JOIN (VALUES {_PATHS_VALUES}) AS p(path, sources, targets)
              ON a.to_stage = ANY(p.sources) OR a.to_stage = ANY(p.targets))
        INSERT INTO {ENTRIES} (profile_id, path, entered_at, previous_entry_at, converted_at)
        SELECT profile_id, path, occurred_at,
               lag(occurred_at) OVER (PARTITION BY profile_id, path ORDER BY occurred_at, id), converted_at
        FROM steps WHERE is_entry"""


def _kept(new_rows: bool) -> str:
    """The changed profiles' rows in the table that the statement did not write."""
    unwritten = f"AND NOT EXISTS (SELECT 1 FROM lc_new n WHERE n.id = h.id)" if new_rows else ""
    return f"SELECT {COLUMNS} FROM {HISTORY} h WHERE h.profile_id IN (SELECT profile_id FROM changed) {unwritten}"


INSERTED = sync_sql("SELECT DISTINCT profile_id FROM lc_new", _kept(True),
                    "SELECT * FROM kept", f"SELECT * FROM kept UNION ALL SELECT {COLUMNS} FROM lc_new")
DELETED = sync_sql("SELECT DISTINCT profile_id FROM lc_old", _kept(False),
                   f"SELECT * FROM kept UNION ALL SELECT {COLUMNS} FROM lc_old", "SELECT * FROM kept")
UPDATED = sync_sql("SELECT profile_id FROM lc_new UNION SELECT profile_id FROM lc_old", _kept(True),
                   f"SELECT * FROM kept UNION ALL SELECT {COLUMNS} FROM lc_old",
                   f"SELECT * FROM kept UNION ALL SELECT {COLUMNS} FROM lc_new")
EVERYTHING = sync_sql(f"SELECT DISTINCT profile_id FROM {HISTORY}", f"SELECT {COLUMNS} FROM {HISTORY}",
                      "SELECT * FROM kept WHERE false", "SELECT * FROM kept")

FUNCTION = f"""
CREATE OR REPLACE FUNCTION lifecycle_stage_flow_sync() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        -- (DELETE: a TRUNCATE here fails when one statement truncates these tables too, as Django's flush does)
        DELETE FROM {COUNTS};
        DELETE FROM {ENTRIES};
    ELSIF TG_OP = 'INSERT' THEN
        {INSERTED};
    ELSIF TG_OP = 'DELETE' THEN
        {DELETED};
    ELSE
        {UPDATED};
    END IF;
    RETURN NULL;
END
$body$"""

TRIGGERS = [
    FUNCTION,
    f"CREATE TRIGGER lifecycle_stage_flow_insert AFTER INSERT ON {HISTORY} REFERENCING NEW TABLE AS lc_new "
    "FOR EACH STATEMENT EXECUTE FUNCTION lifecycle_stage_flow_sync()",
    f"CREATE TRIGGER lifecycle_stage_flow_delete AFTER DELETE ON {HISTORY} REFERENCING OLD TABLE AS lc_old "
    "FOR EACH STATEMENT EXECUTE FUNCTION lifecycle_stage_flow_sync()",
    f"CREATE TRIGGER lifecycle_stage_flow_update AFTER UPDATE ON {HISTORY} "
    "REFERENCING OLD TABLE AS lc_old NEW TABLE AS lc_new FOR EACH STATEMENT EXECUTE FUNCTION lifecycle_stage_flow_sync()",
    f"CREATE TRIGGER lifecycle_stage_flow_truncate AFTER TRUNCATE ON {HISTORY} "
    "FOR EACH STATEMENT EXECUTE FUNCTION lifecycle_stage_flow_sync()",
    EVERYTHING,
]
DROP_TRIGGERS = [f"DROP TRIGGER IF EXISTS lifecycle_stage_flow_{op} ON {HISTORY}"
                 for op in ("insert", "delete", "update", "truncate")] + [
    "DROP FUNCTION IF EXISTS lifecycle_stage_flow_sync()"]


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle_plugin', '0016_drop_redundant_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='StageCountChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('hour', models.DateTimeField()),
                ('stage', models.CharField(max_length=32)),
                ('delta', models.IntegerField()),
            ],
            options={
                'indexes': [models.Index(fields=['hour'], include=('stage', 'delta'), name='lifecycle_stagecount_hour_idx')],
            },
        ),
        migrations.CreateModel(
            name='StageEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('profile_id', models.BigIntegerField()),
                ('path', models.CharField(max_length=32)),
                ('entered_at', models.DateTimeField()),
                ('previous_entry_at', models.DateTimeField(null=True)),
                ('converted_at', models.DateTimeField(null=True)),
            ],
            options={
                'indexes': [models.Index(fields=['path', 'entered_at'], include=('previous_entry_at', 'converted_at', 'profile_id'), name='lifecycle_stageentry_path_idx'), models.Index(fields=['profile_id'], name='lifecycle_stageentry_prof_idx')],
            },
        ),
        migrations.RunSQL(TRIGGERS, reverse_sql=DROP_TRIGGERS),
    ]
