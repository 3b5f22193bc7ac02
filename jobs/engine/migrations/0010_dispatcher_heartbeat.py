"""Each running dispatcher's heartbeat, for /readyz (nurturehub/health.py)."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('engine', '0009_queue_item_priority_order'),
    ]

    operations = [
        migrations.CreateModel(
            name='DispatcherHeartbeat',
            fields=[
                ('owner', models.CharField(max_length=80, primary_key=True, serialize=False)),
                ('started_at', models.DateTimeField()),
                ('beat_at', models.DateTimeField(db_index=True)),
            ],
        ),
    ]
