"""Queue items keep their run's priority factor and an `order_at` (when due, shifted by it) that claims order by."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("engine", "0008_merge_flow_gates")]

    operations = [
        migrations.AddField(model_name="queueitem", name="factor", field=models.SmallIntegerField(default=0)),
        migrations.AddField(model_name="queueitem", name="order_at", field=models.DateTimeField(null=True)),
        migrations.RunSQL("UPDATE engine_queueitem SET order_at = available_at", migrations.RunSQL.noop),
        migrations.AlterField(model_name="queueitem", name="order_at", field=models.DateTimeField()),
        migrations.AlterModelOptions(name="queueitem", options={"ordering": ["queue_key", "priority", "order_at", "id"]}),
        migrations.RemoveIndex(model_name="queueitem", name="engine_item_ready"),
        migrations.AddIndex(
            model_name="queueitem",
            index=models.Index(
                condition=models.Q(("lease_owner__isnull", True)),
                fields=["queue_key", "priority", "order_at", "id"],
                name="engine_item_ready",
            ),
        ),
    ]
