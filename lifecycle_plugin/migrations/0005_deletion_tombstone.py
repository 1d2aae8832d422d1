from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("lifecycle_plugin", "0004_hook_retry"),
    ]

    operations = [
        migrations.CreateModel(
            name="DeletedCustomer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.CharField(max_length=64, unique=True)),
                ("deleted_at", models.DateTimeField()),
            ],
        ),
    ]
