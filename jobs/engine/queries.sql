-- The engine's raw SQL, read by queries.py: `-- name:`, a one-line description, the statement.
-- `Model` is that model's table, `columns(Model, alias)` its concrete columns behind `alias.`; %s and %(name)s are
-- psycopg's parameters. Comment lines are documentation only: they are never sent.


-- ===== Intake (services/intake.py) ==============================================================================

-- name: work_notify
-- Wake idle dispatchers at once: they LISTEN on this channel (work_listen). Sent inside the transaction that stores
-- the work, so PostgreSQL delivers it at that commit, once however often it was sent.
SELECT pg_notify('engine_work', '');

-- name: work_listen
-- The dispatcher's listener subscribes to work_notify's channel.
LISTEN engine_work;

-- name: event_ids_claim
-- Insert user-given event ids, or take over one older than the dedupe window; RETURNING lists the ids that are first.
INSERT INTO `EventIdempotency` (key, event_internal_id, seen_at)
SELECT k, i, %s FROM unnest(%s::text[], %s::text[]) AS t(k, i)
ON CONFLICT (key) DO UPDATE
   SET event_internal_id = EXCLUDED.event_internal_id, seen_at = EXCLUDED.seen_at
 WHERE `EventIdempotency`.seen_at < %s
RETURNING key;

-- name: events_insert
-- Store events in the order given, skipping ids already stored (a retried send); RETURNING the rows stored now.
INSERT INTO `Event` (internal_id, external_id, name, data, ts, version, duplicate, received_at)
SELECT e.internal_id, e.external_id, e.name, e.data, e.ts, e.version, e.duplicate, %(now)s
  FROM jsonb_array_elements(%(events)s::jsonb) WITH ORDINALITY AS given(event, n)
 CROSS JOIN LATERAL jsonb_populate_record(NULL::`Event`, given.event) AS e
 ORDER BY given.n
ON CONFLICT (internal_id) DO NOTHING
RETURNING id, internal_id;

-- name: runs_insert
-- New runs and each one's first discovery item, in the order given (intake's runs_start); RETURNING each run's id.
WITH given AS (
  SELECT g.n, g.start->>'run_id' AS run_id, (g.start->>'function_id')::uuid AS function_id, g.start
    FROM jsonb_array_elements(%(starts)s::jsonb) WITH ORDINALITY AS g(start, n)
),
runs AS (
  INSERT INTO `Run` (run_id, function_id, event_id, events, status, concurrency, force_step_plan, request_version,
                     steps_done, created_at)
  SELECT run_id, function_id, (start->>'event_id')::bigint, start->'events', 'queued', start->'concurrency', false,
         -1, 0, %(now)s
    FROM given ORDER BY n
  RETURNING id, run_id
),
items AS (
  INSERT INTO `QueueItem` (run_id, function_id, step_id, step_name, parallel_mode, attempt, max_attempts, queue_key,
                           priority, key1, limit1, key2, limit2, available_at, factor, order_at, generation,
                           created_at)
  SELECT runs.id, given.function_id, given.start->>'step_id', '', '', 0, (given.start->>'max_attempts')::int,
         given.start->>'queue_key', (given.start->>'priority')::smallint, given.start->>'key1',
         (given.start->>'limit1')::int, given.start->>'key2', (given.start->>'limit2')::int,
         (given.start->>'available_at')::timestamptz, (given.start->>'factor')::smallint,
         (given.start->>'order_at')::timestamptz, 0, %(now)s
    FROM given JOIN runs ON runs.run_id = given.run_id ORDER BY given.n
)
SELECT id, run_id FROM runs;

-- name: triggers_for_events
-- The event triggers of live functions for these event names (or wildcard patterns), with each function's row.
SELECT t.id, t.event_name, t.expression, `columns(Function, f)`
  FROM `Trigger` t JOIN `Function` f ON f.id = t.function_id
 WHERE t.event_name = ANY(%s) AND f.archived_at IS NULL ORDER BY t.id;


-- ===== Building a step's request (services/call_request.py) ===================================================

-- name: request_read
-- Everything a leased item's SDK request needs in one query, memos and a step.ai.infer request included.
SELECT i.step_id, i.step_name, i.attempt, i.max_attempts, i.generation, r.run_id, r.events, r.force_step_plan,
       r.request_version, f.id AS function_pk, f.slug, f.step_url,
       (SELECT json_agg(json_build_array(m.hashed_id, m.memo) ORDER BY m.position)
          FROM `StepMemo` m WHERE m.run_id = r.id) AS memos,
       (SELECT g.opts FROM `GatewayRequest` g WHERE g.run_id = r.id AND g.hashed_id = i.step_id) AS ai_request
  FROM `QueueItem` i
  JOIN `Run` r ON r.id = i.run_id
  JOIN `Function` f ON f.id = i.function_id
 WHERE i.id = %s AND i.lease_owner = %s AND i.lease_expires_at > %s;


-- ===== Claims and leases (services/claims.py) =================================================================

-- name: claim_lock
-- One claimer at a time across dispatchers (others skip this tick), until the claim's transaction ends; the same
-- statement bounds how long the claim's transaction may sit idle (milliseconds, as text; SET LOCAL), and has the
-- claim's statements planned for their values each time, though prepared: a generic plan of claim_candidates cannot
-- see how few items are due now, and took 3.6 ms a claim against 0.9 ms planned and run (bench/scale.py,
-- pg_stat_statements).
SELECT pg_try_advisory_xact_lock(%s), set_config('idle_in_transaction_session_timeout', %s, true),
       set_config('plan_cache_mode', 'force_custom_plan', true);

-- name: claim_candidates
-- The ready heads of the least recently served key queues, locked, with the requests in flight counted in the same
-- statement (one round trip of every claim; its snapshot is taken after claim_lock, so no claim that committed
-- before it is missed). `leased` counts leased items per concurrency key ('c', with the largest limit they carry, so
-- a limit raised since they started applies from their first slot that frees) and per key queue ('q', for the
-- spare slot); it is sent once, on one of the rows, as JSON. A key queue whose own concurrency key is at its limit is
-- not visited at all, and one with few slots free gives no more items than it has slots, so a claim locks only what
-- it could lease. Under bench/scale.py the key queues at their limit were most of each visit: about 30 items locked
-- for each one leased.
-- `gated`: a first request of a function with a throttle, the only kind of item the claim gate (throttle.py) may
-- hold back; a claim that chose none skips the gate's statement (one round trip of every claim under a flood).
WITH RECURSIVE leased AS (
  SELECT 'c' AS kind, k AS key, count(*) AS in_flight, max(l) AS limit_max FROM (
    SELECT key1 AS k, limit1 AS l FROM `QueueItem` WHERE lease_owner IS NOT NULL AND key1 <> ''
    UNION ALL
    SELECT key2, limit2 FROM `QueueItem` WHERE lease_owner IS NOT NULL AND key2 <> ''
  ) s GROUP BY k
  UNION ALL
  SELECT 'q', queue_key, count(*), 0 FROM `QueueItem` WHERE lease_owner IS NOT NULL GROUP BY queue_key
), keys(k) AS (
  (SELECT queue_key FROM `QueueItem`
    WHERE lease_owner IS NULL AND available_at <= %(now)s ORDER BY queue_key LIMIT 1)
  UNION ALL
  SELECT (SELECT queue_key FROM `QueueItem`
           WHERE lease_owner IS NULL AND available_at <= %(now)s AND queue_key > keys.k
           ORDER BY queue_key LIMIT 1)
    FROM keys WHERE keys.k IS NOT NULL
), turns AS (
  SELECT keys.k, row_number() OVER (ORDER BY kq.last_served_at NULLS FIRST, keys.k) AS turn,
         own.limit_max - own.in_flight AS slots
    FROM keys
    LEFT JOIN `KeyQueue` kq ON kq.key = keys.k
    LEFT JOIN leased own ON own.kind = 'c' AND own.key = keys.k
   WHERE keys.k IS NOT NULL AND (own.key IS NULL OR own.in_flight < own.limit_max)
), visit AS (
  SELECT turns.k, turns.turn, LEAST(%(capacity)s, COALESCE(turns.slots, %(capacity)s)) AS take
    FROM turns WHERE turns.turn <= %(window)s
)
SELECT c.id, c.queue_key, c.key1, c.limit1, c.key2, c.limit2, c.run_id, c.step_id, c.attempt,
       c.max_attempts, c.generation,
       c.step_id = %(first_step)s AND EXISTS (SELECT 1 FROM `Function` f
                                              WHERE f.id = c.function_id
                                                AND jsonb_typeof(f.config -> 'throttle') = 'object') AS gated,
       CASE WHEN row_number() OVER () = 1
            THEN (SELECT json_agg(json_build_array(kind, key, in_flight)) FROM leased) END AS leased
  FROM visit
  CROSS JOIN LATERAL (
    SELECT * FROM `QueueItem` i
     WHERE i.queue_key = visit.k AND i.lease_owner IS NULL AND i.available_at <= %(now)s
     ORDER BY i.priority, i.order_at, i.id
     LIMIT visit.take
     FOR UPDATE SKIP LOCKED
  ) c
 ORDER BY visit.turn, c.priority, c.order_at, c.id;

-- name: claim_take
-- In one round trip: the visited key queues' turns, the chosen items' leases, and the runs that start.
WITH served AS (
  INSERT INTO `KeyQueue` (key, last_served_at)
  SELECT k, %(now)s + (n * interval '1 microsecond')
    FROM unnest(%(visited)s::text[]) WITH ORDINALITY AS t(k, n)
  ON CONFLICT (key) DO UPDATE SET last_served_at = EXCLUDED.last_served_at
), claimed AS (
  UPDATE `QueueItem` SET lease_owner = %(owner)s, lease_expires_at = %(expires)s
   WHERE id = ANY(%(ids)s) RETURNING run_id
)
UPDATE `Run` SET status = 'running', started_at = %(now)s
 WHERE id IN (SELECT run_id FROM claimed) AND status = 'queued';

-- name: leases_reap
-- Items whose lease ran out (their dispatcher died or hung) become ready again. An item locked by an answer being
-- stored is skipped (the next sweep sees it again): this statement locks many rows in no set order, and waiting
-- here deadlocked against batches of answers, which hold several items' locks (answer_batch.py).
UPDATE `QueueItem` SET lease_owner = NULL, lease_expires_at = NULL
 WHERE id IN (SELECT id FROM `QueueItem` WHERE lease_owner IS NOT NULL AND lease_expires_at < %s
                 FOR UPDATE SKIP LOCKED)
RETURNING id;

-- name: leases_renew
-- The heartbeat: extend each lease still held under its claim's token. An item locked by an answer being stored
-- is skipped, as leases_reap does (it was waiting here that deadlocked against a batch of answers and left every
-- lease unrenewed): its answer ends the lease, or the next beat, a third of a lease later, renews it.
UPDATE `QueueItem` i SET lease_expires_at = %s
  FROM (SELECT q.id FROM unnest(%s::bigint[], %s::text[]) AS h(id, token)
          JOIN `QueueItem` q ON q.id = h.id AND q.lease_owner = h.token
           FOR UPDATE OF q SKIP LOCKED) held
 WHERE i.id = held.id RETURNING i.id;

-- name: leases_release
-- Give leases back without an answer (a dispatcher stopping), each under its claim's token. An item locked by an
-- answer being stored is skipped, as leases_renew does (waiting here could deadlock against a batch of answers):
-- its answer ends the lease, or, if that batch fails, the lease runs out.
UPDATE `QueueItem` i SET lease_owner = NULL, lease_expires_at = NULL
  FROM (SELECT q.id FROM unnest(%s::bigint[], %s::text[]) AS h(id, token)
          JOIN `QueueItem` q ON q.id = h.id AND q.lease_owner = h.token
           FOR UPDATE OF q SKIP LOCKED) held
 WHERE i.id = held.id;


-- name: fence_holds
-- The fence on a step request (fence.py), at the serve endpoint: the item is still leased under the request's
-- claim token, for the request's generation and step, and the lease has not run out. One primary-key read.
SELECT 1 FROM `QueueItem`
 WHERE id = %s AND lease_owner = %s AND generation = %s AND step_id = %s AND lease_expires_at > %s;


-- ===== Applying an answer (services/answers.py, services/answer_rows.py) ======================================

-- name: item_lock
-- Two statements, one round trip: lock the item's run, then the item if still leased under the claim's token.
-- The string is sent as one simple Query, its values bound client-side (queries.several): PostgreSQL runs its
-- statements one after the other, in the order written, in the open transaction, and a row lock is held until
-- the transaction ends, so the run is locked before the item, always (see answer_rows.item_lock for why).
-- The first result is the run's (no row: the item is gone), the second the item with its run and function rows.
SELECT 1 FROM `Run` WHERE id = (SELECT run_id FROM `QueueItem` WHERE id = %s) FOR UPDATE;
SELECT `columns(QueueItem, i)`, `columns(Run, r)`, `columns(Function, f)`
  FROM `QueueItem` i JOIN `Run` r ON r.id = i.run_id JOIN `Function` f ON f.id = r.function_id
 WHERE i.id = %s AND i.lease_owner = %s FOR UPDATE OF i;

-- name: memo_insert
-- Store a step's memo once (a repeated answer for the same step changes nothing); RETURNING says it was new.
INSERT INTO `StepMemo` (run_id, hashed_id, name, memo, position, created_at)
VALUES (%s, %s, %s, %s::jsonb, %s, %s) ON CONFLICT (run_id, hashed_id) DO NOTHING RETURNING id;

-- name: spans_insert
-- The answer's trace spans in one statement, in order, from a JSON array of span objects (a missing key is NULL);
-- also the `spans` part of step_run_inline_done and run_complete, which include it.
INSERT INTO `RunSpan` (run_id, span_id, step_id, step_name, op, attempt, status, http_status, started_at, ended_at,
                       output, error, wake_at, retry_at)
SELECT %(run)s, s.span_id, s.step_id, s.step_name, s.op, s.attempt, s.status, s.http_status, s.started_at,
       s.ended_at, s.output, s.error, s.wake_at, s.retry_at
  FROM jsonb_array_elements(%(spans)s::jsonb) WITH ORDINALITY AS given(span, n)
 CROSS JOIN LATERAL jsonb_populate_record(NULL::`RunSpan`, given.span) AS s
 ORDER BY given.n;

-- name: step_run_inline_done
-- The common answer in one statement: a step ran inline in discovery; its memo, the next discovery, the run's
-- count and request version, and the answer's trace spans (as spans_insert writes them).
WITH memo AS (
  INSERT INTO `StepMemo` (run_id, hashed_id, name, memo, position, created_at)
  VALUES (%(run)s, %(hashed)s, %(name)s, %(memo)s::jsonb, %(position)s, %(now)s)
  ON CONFLICT (run_id, hashed_id) DO NOTHING RETURNING 1
), next_discovery AS (
  UPDATE `QueueItem` SET attempt = 0, priority = 0, available_at = %(now)s,
         order_at = %(now)s - factor * interval '1 second', lease_owner = NULL,
         lease_expires_at = NULL, generation = generation + 1
   WHERE id = %(item)s
), spans AS (`include(spans_insert)`)
UPDATE `Run` SET steps_done = steps_done + (SELECT count(*) FROM memo), request_version = %(request_version)s
 WHERE id = %(run)s;

-- name: item_to_discovery
-- Reuse the item as the run's next discovery request (a new generation), attempts from 0 of the function's (a
-- pause's timeout item had one), ready at the given time.
UPDATE `QueueItem` SET step_id = %s, step_name = '', parallel_mode = '', attempt = 0, priority = 0,
       max_attempts = COALESCE(%s, max_attempts),
       available_at = %s, order_at = %s - factor * interval '1 second', lease_owner = NULL,
       lease_expires_at = NULL, generation = generation + 1
 WHERE id = %s;

-- name: item_delete
-- The item's work is done (or stale).
DELETE FROM `QueueItem` WHERE id = %s;

-- name: run_progress_save
-- The run's step-plan flag and count of stored memos.
UPDATE `Run` SET force_step_plan = %s, steps_done = %s WHERE id = %s;

-- name: run_request_version_save
-- The request version the SDK first answered with, kept for the run's later requests (step_run_inline_done
-- writes it itself).
UPDATE `Run` SET request_version = %s WHERE id = %s;

-- name: gateway_request_insert
-- Keep a step.ai.infer op's request for the engine to make (once per step: a re-planned step keeps the first).
INSERT INTO `GatewayRequest` (run_id, hashed_id, opts, created_at) VALUES (%s, %s, %s::jsonb, %s)
    ON CONFLICT (run_id, hashed_id) DO NOTHING;


-- ===== Ending runs (services/endings.py) ======================================================================

-- name: run_complete
-- The run's completed status, output and end, in one statement with what it leaves behind (as
-- run_leftovers_delete) and the answer's trace spans (as spans_insert): one round trip where there were three.
WITH pauses AS (DELETE FROM `Pause` WHERE run_id = %(run)s),
     provider_requests AS (DELETE FROM `GatewayRequest` WHERE run_id = %(run)s),
     items AS (DELETE FROM `QueueItem` WHERE run_id = %(run)s),
     spans AS (`include(spans_insert)`)
UPDATE `Run` SET status = %(status)s, output = %(output)s::jsonb, ended_at = %(now)s, steps_done = %(steps_done)s
 WHERE id = %(run)s;

-- name: run_leftovers_delete
-- An ended run's queue items, pending waits and invokes, and stored step.ai.infer requests; counts the items.
WITH pauses AS (DELETE FROM `Pause` WHERE run_id = %(run)s),
     provider_requests AS (DELETE FROM `GatewayRequest` WHERE run_id = %(run)s)
DELETE FROM `QueueItem` WHERE run_id = %(run)s;


-- ===== Pauses: wait_for_event and invoke (pauses.py, pause_resume.py) =========================================

-- name: pause_insert
-- A run's wait or invoke, unless the step already has one; RETURNING says it was new.
INSERT INTO `Pause` (run_id, kind, step_id, step_name, event_name, expression, match_key, correlation_id,
                     expires_at, created_at)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (run_id, step_id) DO NOTHING RETURNING id;

-- name: pause_waited_names
-- Which of these event names any wait is waiting on (an index lookup each; usually none).
SELECT name FROM unnest(%s::text[]) AS name
 WHERE EXISTS (SELECT 1 FROM `Pause` WHERE kind = 'wait' AND event_name = name);

-- name: pause_candidates
-- Unexpired pauses these events may end, with their run's status and trigger: one index scan per branch.
SELECT p.id AS pause_pk, p.run_id AS run_pk, p.kind, p.step_id, p.event_name, p.expression, p.correlation_id,
       p.created_at, r.status AS run_status, r.events -> 0 AS trigger
  FROM `Pause` p JOIN `Run` r ON r.id = p.run_id
 WHERE p.id IN (
       SELECT id FROM `Pause` WHERE kind = 'wait' AND event_name = ANY(%(names)s) AND match_key = ''
       UNION SELECT id FROM `Pause` WHERE kind = 'wait' AND event_name = ANY(%(names)s)
                                        AND match_key = ANY(%(keys)s)
       UNION SELECT id FROM `Pause` WHERE kind = 'wait' AND event_name = ANY(%(unkeyed)s)
       UNION SELECT id FROM `Pause` WHERE kind = 'invoke' AND correlation_id = ANY(%(correlations)s))
   AND p.expires_at > %(now)s
 ORDER BY p.created_at, p.id;

-- name: pause_timeout_item_lock
-- Two statements, one round trip, as item_lock: the run, then its pause's timeout item if still leased.
SELECT 1 FROM `Run` WHERE id = (SELECT run_id FROM `QueueItem` WHERE id = %s) FOR UPDATE;
SELECT run_id AS run_pk, step_id FROM `QueueItem` WHERE id = %s AND lease_owner = %s FOR UPDATE;


-- ===== Cancel-on (cancellation.py) ============================================================================

-- name: cancellers_for_events
-- Live functions whose `cancel` entries name one of these events, with those entries.
SELECT f.id AS function_pk, f.config -> 'cancel' AS entries
  FROM `Function` f
 WHERE f.archived_at IS NULL AND jsonb_typeof(f.config -> 'cancel') = 'array'
   AND EXISTS (SELECT 1 FROM jsonb_array_elements(f.config -> 'cancel') c WHERE c ->> 'event' = ANY(%s));

-- name: runs_active
-- A function's unfinished runs started after a time, with their triggering event.
SELECT r.run_id, r.created_at, r.events -> 0 AS trigger
  FROM `Run` r
 WHERE r.function_id = %s AND r.status IN ('queued', 'running') AND r.created_at > %s
 ORDER BY r.id;

-- name: runs_active_by_value
-- The same, only runs whose triggering event has one of these values at a path (jsonb equality, as CEL compares).
SELECT r.run_id, r.created_at, r.events -> 0 AS trigger
  FROM `Run` r
 WHERE r.function_id = %s AND r.status IN ('queued', 'running') AND r.created_at > %s
   AND (r.events -> 0) #> %s::text[] = ANY(%s::jsonb[])
 ORDER BY r.id;


-- ===== Debounce and batching (debounce.py, batching.py) =======================================================

-- name: debounce_upsert
-- Hold the event as its key's latest (or open the key's debounce); an older event than the held one changes nothing.
INSERT INTO `PendingDebounce` (function_id, key, event_id, event_ts, fire_at, timeout_at, created_at)
VALUES (%(function)s, %(key)s, %(event)s, %(ts)s, LEAST(%(due)s, %(timeout_at)s), %(timeout_at)s, %(now)s)
ON CONFLICT (function_id, key) DO UPDATE
   SET event_id = EXCLUDED.event_id, event_ts = EXCLUDED.event_ts,
       fire_at = LEAST(%(due)s, `PendingDebounce`.timeout_at)
 WHERE `PendingDebounce`.event_ts <= EXCLUDED.event_ts;

-- name: debounces_due
-- Due debounces, locked, skipping rows an intake holds.
SELECT id FROM `PendingDebounce` WHERE fire_at <= %s ORDER BY fire_at, id LIMIT %s FOR UPDATE SKIP LOCKED;

-- name: batch_append
-- Add an event to its key's open batch (or open it); the batch's id, event count and size.
INSERT INTO `PendingBatch` (function_id, key, event_ids, size_bytes, fire_at, created_at)
VALUES (%(function)s, %(key)s, jsonb_build_array(%(event)s), %(bytes)s, %(fire_at)s, %(now)s)
ON CONFLICT (function_id, key) DO UPDATE
   SET event_ids = `PendingBatch`.event_ids || EXCLUDED.event_ids,
       size_bytes = `PendingBatch`.size_bytes + EXCLUDED.size_bytes
RETURNING id, jsonb_array_length(event_ids) AS event_count, size_bytes;

-- name: batch_close
-- Delete a batch (locked by this transaction) and return its events' ids in arrival order.
DELETE FROM `PendingBatch` WHERE id = %s RETURNING event_ids;

-- name: batches_due
-- Batches whose timeout has passed, locked, skipping rows an intake holds.
SELECT id FROM `PendingBatch` WHERE fire_at <= %s ORDER BY fire_at, id LIMIT %s FOR UPDATE SKIP LOCKED;


-- ===== Gates: singleton, rate limit, throttle (gates.py) ======================================================

-- name: singleton_lock
-- One intake at a time per singleton key, until the transaction ends (class 0 of hashtextextended's seed).
SELECT pg_advisory_xact_lock(hashtextextended(%s, 0));

-- name: singleton_holders
-- The unfinished runs holding a singleton key.
SELECT r.run_id FROM `RunSingleton` s JOIN `Run` r ON r.id = s.run_id
 WHERE s.key = %s AND r.status IN ('queued', 'running');

-- name: gcra_lock
-- One reader of a rate-limit or throttle key at a time, until the transaction ends (seed 1).
SELECT pg_advisory_xact_lock(hashtextextended(%s, 1));

-- name: gcra_read
-- A GCRA key's theoretical arrival time, in nanoseconds.
SELECT tat_ns FROM `GcraKey` WHERE key = %s;

-- name: gcra_store
-- A GCRA key's new theoretical arrival time.
INSERT INTO `GcraKey` (key, tat_ns) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET tat_ns = EXCLUDED.tat_ns;

-- name: gcra_prune
-- Keys whose time has passed: a missing key behaves exactly like one.
DELETE FROM `GcraKey` WHERE tat_ns < %s;


-- ===== Sessions (executor.py) =================================================================================

-- name: idle_transaction_timeout_set
-- A dispatcher's session ends a transaction left idle this long (milliseconds, as text): SET with a parameter.
SELECT set_config('idle_in_transaction_session_timeout', %s, false);


-- ===== Throttle at claim (throttle.py) =========================================================================

-- name: throttle_starts
-- Of the items a claim chose, the first requests of runs not started yet whose function has a throttle.
SELECT i.id, f.slug, f.config -> 'throttle' AS throttle, r.events -> 0 AS event
  FROM `QueueItem` i JOIN `Run` r ON r.id = i.run_id JOIN `Function` f ON f.id = i.function_id
 WHERE i.id = ANY(%s) AND i.step_id = %s AND r.status = 'queued'
   AND jsonb_typeof(f.config -> 'throttle') = 'object';

-- name: throttle_defer
-- Throttled first requests wait for their slot.
UPDATE `QueueItem` i SET available_at = d.at FROM unnest(%s::bigint[], %s::timestamptz[]) AS d(id, at)
 WHERE i.id = d.id;


-- ===== Timers (wakeup.py) ======================================================================================

-- name: timers_next_due
-- Every timer in one statement: the next unleased item due, and the next time a sweep has work (wakeup.py).
-- An item counts from %(since)s, read before the last claim looked: one that fell due while that claim ran is
-- returned (due by now, so the loop claims again at once); one due before it was left by the claim for a reason.
-- The item: a sleep, a retry, a pause's timeout, a throttled or future start. The sweeps: a debounce or batch due,
-- a cron trigger, a lease running out, a run's start or finish timeout.
-- Each part is one of the owning feature's tables, read through an index (migration 0014_timer_indexes); a debounce's
-- fire_at is already capped by its timeout_at (debounce_upsert), so fire_at alone says when it is due. Run timeouts
-- are the function's current config (as timeouts.py enforces them: executor/service.go handleEagerCancel*Timeout),
-- its duration strings read as protocol.parse_duration reads them ("1h30m", "2d", "500ms"), times %(scale)s.
WITH timeouts AS (
  SELECT f.id,
         (SELECT sum(d[1]::numeric * CASE d[2] WHEN 'ms' THEN 0.001 WHEN 's' THEN 1 WHEN 'm' THEN 60 WHEN 'h' THEN 3600
                                               WHEN 'd' THEN 86400 ELSE 604800 END)
            FROM regexp_matches(f.config -> 'timeouts' ->> 'start', '(\d+(?:\.\d+)?)(ms|s|m|h|d|w)', 'g') d) AS start_s,
         (SELECT sum(d[1]::numeric * CASE d[2] WHEN 'ms' THEN 0.001 WHEN 's' THEN 1 WHEN 'm' THEN 60 WHEN 'h' THEN 3600
                                               WHEN 'd' THEN 86400 ELSE 604800 END)
            FROM regexp_matches(f.config -> 'timeouts' ->> 'finish', '(\d+(?:\.\d+)?)(ms|s|m|h|d|w)', 'g') d) AS finish_s
    FROM `Function` f
   WHERE f.config ? 'timeouts' AND f.archived_at IS NULL
)
SELECT (SELECT min(available_at) FROM `QueueItem` WHERE lease_owner IS NULL AND available_at > %(since)s),
       LEAST((SELECT min(fire_at) FROM `PendingDebounce`),
             (SELECT min(fire_at) FROM `PendingBatch`),
             (SELECT min(t.next_fire_at) FROM `Trigger` t JOIN `Function` f ON f.id = t.function_id
               WHERE t.cron <> '' AND f.archived_at IS NULL),
             (SELECT min(lease_expires_at) FROM `QueueItem` WHERE lease_owner IS NOT NULL),
             (SELECT min(LEAST(
                       (SELECT min(r.created_at) FROM `Run` r
                         WHERE r.function_id = t.id AND r.status = 'queued' AND r.started_at IS NULL)
                         + make_interval(secs => t.start_s * %(scale)s),
                       (SELECT min(r.started_at) FROM `Run` r
                         WHERE r.function_id = t.id AND r.status IN ('queued', 'running') AND r.started_at IS NOT NULL)
                         + make_interval(secs => t.finish_s * %(scale)s)))
                FROM timeouts t));
