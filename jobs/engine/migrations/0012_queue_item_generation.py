"""Queue items count the requests they stood for (`generation`), for the fence on step requests and answers."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("engine", "0011_event_version")]

    operations = [
        migrations.AddField(model_name="queueitem", name="generation", field=models.PositiveBigIntegerField(default=0)),
    ]
