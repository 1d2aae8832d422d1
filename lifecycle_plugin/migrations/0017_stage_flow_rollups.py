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
NEW_PROFILES_SETTING = "lifecycle.history_of_new_profiles"

#: (path, from-stages, to-stages), as `engine.stage_flow.PATHS` has them.
PATHS = (
    ("lead_to_new", ("lead",), ("new", "repeat", "loyal")),
    ("new_to_repeat", ("new",), ("repeat", "loyal")),
    ("repeat_to_loyal", ("repeat",), ("loyal",)),
    ("win_back", ("at_risk", "lapsed"), ("new", "repeat", "loyal")),
)
def _stages(stages) -> str:
    return "ARRAY[{}]::text[]".format(", ".join(f"'{stage}'" for stage in stages))


def _path_columns() -> str:
    """Per path, over a profile's moves in order: when its previous entry into the path came,
    and when its first later move into the path's to-stages did (behaviour only: a settings
    change is neither)."""
    columns = []
    for number, (_, sources, targets) in enumerate(PATHS):
        entry = (f"a.to_stage = ANY({_stages(sources)}) AND (a.from_stage IS NULL "
                 f"OR a.from_stage <> ALL({_stages(sources)})) AND a.reason <> 'settings_change'")
        target = f"a.to_stage = ANY({_stages(targets)}) AND a.reason <> 'settings_change'"
        columns += [f"{entry} AS entry_{number}",
                    f"max(a.occurred_at) FILTER (WHERE {entry}) OVER earlier AS previous_{number}",
                    f"min(a.occurred_at) FILTER (WHERE {target}) OVER later AS converted_{number}"]
    return ",\n                   ".join(columns)


_PATH_ROWS = ", ".join(f"('{name}', m.entry_{n}, m.previous_{n}, m.converted_{n})" for n, (name, _, _) in enumerate(PATHS))


def sync_sql(changed: str, kept: str, before: str, after: str) -> str:
    """One statement: the count changes of `after` (the changed profiles' history now) minus
    those of `before` (as it was), and the entries of `changed` rewritten from `after`.

    A move holds its stage from its time until the profile's next move (by time, then id):
    +1 in the hour it starts, -1 in the hour the next move ends it. Everything `after` needs
    comes from one pass over its moves in that order (one sort: a backfill writes millions)."""
    return f"""
        WITH changed AS ({changed}),
        kept AS ({kept}),
        before AS ({before}),
        after AS ({after}),
        moves AS (
            SELECT a.profile_id, a.occurred_at, a.to_stage,
                   lead(a.occurred_at) OVER in_order AS left_,
                   {_path_columns()}
            FROM after a
            WINDOW in_order AS (PARTITION BY a.profile_id ORDER BY a.occurred_at, a.id),
                   earlier AS (in_order ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                   later AS (in_order ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING)),
        held AS (
            SELECT 1 AS sign, to_stage, occurred_at AS came, left_ FROM moves
            UNION ALL
            SELECT -1, to_stage, occurred_at,
                   lead(occurred_at) OVER (PARTITION BY profile_id ORDER BY occurred_at, id)
            FROM before),
        counted AS (
            INSERT INTO {COUNTS} (hour, stage, delta)
            SELECT date_trunc('hour', d.at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', h.to_stage, sum(d.delta)
            FROM held h CROSS JOIN LATERAL (VALUES (h.came, h.sign), (h.left_, -h.sign)) AS d(at, delta)
            WHERE d.at IS NOT NULL
            GROUP BY 1, 2 HAVING sum(d.delta) <> 0
            RETURNING 1),
        gone AS (DELETE FROM {ENTRIES} e USING changed c WHERE e.profile_id = c.profile_id RETURNING 1)
        INSERT INTO {ENTRIES} (profile_id, path, entered_at, previous_entry_at, converted_at)
        SELECT m.profile_id, p.path, m.occurred_at, p.previous, p.converted
        FROM moves m CROSS JOIN LATERAL (VALUES {_PATH_ROWS}) AS p(path, is_entry, previous, converted)
        WHERE p.is_entry"""


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
# What a writer of brand-new profiles' history declares (`engine.stage_flow_rollups`): no
# earlier row to look for, no entry to replace (the backfill: a million profiles at once).
INSERTED_FOR_NEW_PROFILES = sync_sql("SELECT NULL::bigint AS profile_id WHERE false",
                                     f"SELECT {COLUMNS} FROM lc_new WHERE false",
                                     "SELECT * FROM kept", f"SELECT {COLUMNS} FROM lc_new")
EVERYTHING = sync_sql(f"SELECT DISTINCT profile_id FROM {HISTORY}", f"SELECT {COLUMNS} FROM {HISTORY}",
                      "SELECT * FROM kept WHERE false", "SELECT * FROM kept")

FUNCTION = f"""
CREATE OR REPLACE FUNCTION lifecycle_stage_flow_sync() RETURNS trigger LANGUAGE plpgsql
-- (Enough to sort and hash a backfill's millions of moves in memory; back to the session's on return.)
SET work_mem = '64MB'
AS $body$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        -- (DELETE: a TRUNCATE here fails when one statement truncates these tables too, as Django's flush does)
        DELETE FROM {COUNTS};
        DELETE FROM {ENTRIES};
    ELSIF TG_OP = 'INSERT' AND current_setting('{NEW_PROFILES_SETTING}', true) = 'on' THEN
        {INSERTED_FOR_NEW_PROFILES};
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
