from django.db import migrations

# A change of an agency's pause switch is announced to every process's cache (tenants/pause_flags.py):
# NOTIFY is delivered at commit, and only when the flag really changed (or a paused agency came or went).
FORWARD = """
CREATE FUNCTION tenants_jobs_paused_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('tenants_jobs_paused', '');
  RETURN NULL;
END $$;
CREATE TRIGGER tenants_jobs_paused_changed AFTER UPDATE OF jobs_paused ON tenants_tenant
  FOR EACH ROW WHEN (OLD.jobs_paused IS DISTINCT FROM NEW.jobs_paused) EXECUTE FUNCTION tenants_jobs_paused_notify();
CREATE TRIGGER tenants_jobs_paused_inserted AFTER INSERT ON tenants_tenant
  FOR EACH ROW WHEN (NEW.jobs_paused) EXECUTE FUNCTION tenants_jobs_paused_notify();
CREATE TRIGGER tenants_jobs_paused_deleted AFTER DELETE ON tenants_tenant
  FOR EACH ROW WHEN (OLD.jobs_paused) EXECUTE FUNCTION tenants_jobs_paused_notify();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS tenants_jobs_paused_changed ON tenants_tenant;
DROP TRIGGER IF EXISTS tenants_jobs_paused_inserted ON tenants_tenant;
DROP TRIGGER IF EXISTS tenants_jobs_paused_deleted ON tenants_tenant;
DROP FUNCTION IF EXISTS tenants_jobs_paused_notify();
"""


class Migration(migrations.Migration):
    dependencies = [("tenants", "0002_intent_score_idempotency")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
