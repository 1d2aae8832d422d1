# The daily prediction run rewrites the figures of every profile. None of those columns is
# indexed, so with free room on each page PostgreSQL updates the row in place (a HOT
# update) instead of adding an entry to each of the table's nine indexes: at 100,000
# customers 10,000 profiles took 0.12 s instead of 0.9 s (docs/performance.md). All rows
# of a page are updated in one transaction, so a page needs room for a second version of
# each of its rows: half of it. New pages get that room at once; existing pages as rows
# move (or at once after a `VACUUM FULL lifecycle_plugin_customerprofile`, which locks
# the table while it runs, as the docs say).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('lifecycle_plugin', '0014_test_send'),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE lifecycle_plugin_customerprofile SET (fillfactor = 50)",
            reverse_sql="ALTER TABLE lifecycle_plugin_customerprofile RESET (fillfactor)",
        ),
    ]
