# Six indexes that no query needs and every write pays for: the `varchar_pattern_ops`
# copies Django adds beside a text field's own index (for LIKE, which nothing here runs) on
# the profile's email, stage and tier; the stage's own index, which (stage, tier) serves;
# and the profile_id indexes of the history tables, which (profile, occurred_at) serves.
# At 1,000,000 customers the backfill writes a profile through ten indexes and a history
# row through five (docs/performance.md).
#
# Only indexes are dropped (and one renamed): the state changes to what the models now say
# without rebuilding an index or re-checking a foreign key, which Django's own AlterField
# would do (it drops and re-adds a foreign key whose field changes).

from django.db import migrations, models

PROFILE = "lifecycle_plugin_customerprofile"

DROP = [
    f"{PROFILE}_email_a25c1438_like",
    f"{PROFILE}_stage_dba4a7bb",
    f"{PROFILE}_stage_dba4a7bb_like",
    f"{PROFILE}_tier_a0798714_like",
    "lifecycle_plugin_stagetransition_profile_id_0e0563f5",
    "lifecycle_plugin_tierchange_profile_id_eba65ba8",
]
# Names as Django gave them in 0001 (a hash of table and column: the same on every database).
RESTORE = [
    f'CREATE INDEX IF NOT EXISTS "{PROFILE}_email_a25c1438_like" ON "{PROFILE}" ("email" varchar_pattern_ops)',
    f'CREATE INDEX IF NOT EXISTS "{PROFILE}_stage_dba4a7bb" ON "{PROFILE}" ("stage")',
    f'CREATE INDEX IF NOT EXISTS "{PROFILE}_stage_dba4a7bb_like" ON "{PROFILE}" ("stage" varchar_pattern_ops)',
    f'CREATE INDEX IF NOT EXISTS "{PROFILE}_tier_a0798714_like" ON "{PROFILE}" ("tier" varchar_pattern_ops)',
    'CREATE INDEX IF NOT EXISTS "lifecycle_plugin_stagetransition_profile_id_0e0563f5" '
    'ON "lifecycle_plugin_stagetransition" ("profile_id")',
    'CREATE INDEX IF NOT EXISTS "lifecycle_plugin_tierchange_profile_id_eba65ba8" '
    'ON "lifecycle_plugin_tierchange" ("profile_id")',
]


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle_plugin', '0015_profile_fillfactor'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL([f'DROP INDEX IF EXISTS "{name}"' for name in DROP], reverse_sql=RESTORE),
                migrations.RunSQL(
                    f'ALTER INDEX IF EXISTS "{PROFILE}_tier_a0798714" RENAME TO "lifecycle_tier_idx"',
                    reverse_sql=f'ALTER INDEX IF EXISTS "lifecycle_tier_idx" RENAME TO "{PROFILE}_tier_a0798714"',
                ),
            ],
            state_operations=[
                migrations.AlterField(
                    model_name='customerprofile', name='email',
                    field=models.CharField(help_text='Lower-cased, trimmed e-mail.', max_length=254),
                ),
                migrations.AddConstraint(
                    model_name='customerprofile',
                    constraint=models.UniqueConstraint(fields=('email',),
                                                       name='lifecycle_plugin_customerprofile_email_key'),
                ),
                migrations.AlterField(
                    model_name='customerprofile', name='stage',
                    field=models.CharField(choices=[('visitor', 'Visitor'), ('lead', 'Lead'), ('prospect', 'Prospect'), ('new', 'New customer'), ('repeat', 'Repeat customer'), ('loyal', 'Loyal customer'), ('at_risk', 'At risk'), ('lapsed', 'Lapsed')], max_length=32),
                ),
                migrations.AlterField(
                    model_name='customerprofile', name='tier',
                    field=models.CharField(blank=True, max_length=32, null=True),
                ),
                migrations.AddIndex(
                    model_name='customerprofile',
                    index=models.Index(fields=['tier'], name='lifecycle_tier_idx'),
                ),
                migrations.AlterField(
                    model_name='stagetransition', name='profile',
                    field=models.ForeignKey(db_index=False, on_delete=models.deletion.CASCADE,
                                            related_name='transitions', to='lifecycle_plugin.customerprofile'),
                ),
                migrations.AlterField(
                    model_name='tierchange', name='profile',
                    field=models.ForeignKey(db_index=False, on_delete=models.deletion.CASCADE,
                                            related_name='tier_changes', to='lifecycle_plugin.customerprofile'),
                ),
            ],
        ),
    ]
