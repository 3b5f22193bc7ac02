// Inngest's TypeScript SDK against the local engine, with the SDK's defaults (v4 checkpoints; v3 does not).
// Usage: node check.mjs <v3|v4> <engine port>. Serves eight functions on a local port, syncs them with a PUT like
// Inngest's dev server does, sends events and waits for each run through the engine's /v0/gql. Exit 1 on any miss.
import { createServer } from "node:http";

const [version, enginePort] = process.argv.slice(2);
const sdk = await import(`inngest-${version}`);
const { serve } = await import(`inngest-${version}/node`);
const origin = `http://127.0.0.1:${enginePort}`;
const tag = `ts-${version}`;

// The SDK logs every intended step error with its stack; keep the check's output to its verdict.
const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const client = new sdk.Inngest({ id: `engine-check-${version}`, isDev: true, baseUrl: origin, logger: quiet });
const calls = {}; // step name -> times its body ran
const seen = {}; // facts the handlers record for the checks
const count = (name) => { calls[name] = (calls[name] || 0) + 1; };

// v4 takes the triggers in the options; v3 takes them as a second argument.
function define(options, trigger, handler) {
  return version === "v3"
    ? client.createFunction(options, trigger, handler)
    : client.createFunction({ ...options, triggers: [trigger] }, handler);
}

const functions = [
  define({ id: "memo", retries: 0 }, { event: `${tag}/memo` }, async ({ step }) => {
    const a = await step.run("a", () => { count("a"); return 1; });
    const b = await step.run("b", () => { count("b"); return a + 1; });
    const c = await step.run("c", () => { count("c"); return b + 1; });
    return { sum: a + b + c };
  }),
  define({ id: "retry-after", retries: 2 }, { event: `${tag}/retry` }, async ({ step }) => {
    return step.run("limited", () => {
      count("limited");
      if (calls.limited === 1) {
        seen.firstAttemptAt = Date.now();
        throw new sdk.RetryAfterError("rate limited", "2s");
      }
      seen.secondAttemptAt = Date.now();
      return "through";
    });
  }),
  define({ id: "sleeper", retries: 0 }, { event: `${tag}/sleep` }, async ({ step }) => {
    await step.run("before", () => { count("before"); seen.beforeSleepAt = Date.now(); });
    await step.sleep("nap", "1s");
    await step.run("after", () => { count("after"); seen.afterSleepAt = Date.now(); });
    return "rested";
  }),
  define({ id: "parallel", retries: 0 }, { event: `${tag}/parallel` }, async ({ step }) => {
    const parts = await Promise.all(
      [1, 2, 3].map((n) => step.run(`part-${n}`, () => { count(`part-${n}`); return n * 10; })),
    );
    const total = await step.run("total", () => { count("total"); return parts.reduce((x, y) => x + y, 0); });
    return { parts, total };
  }),
  define(
    {
      id: "fails",
      retries: 0,
      onFailure: async ({ error, event }) => {
        count("on-failure");
        seen.failure = { message: error?.message, eventName: event?.name, data: event?.data?.error };
      },
    },
    { event: `${tag}/fail` },
    async ({ step }) => {
      await step.run("doomed", () => { count("doomed"); throw new Error("this never works"); });
    },
  ),
  // Inngest's documented wildcard trigger: any `<tag>/wild.<something>` starts it.
  define({ id: "wild", retries: 0 }, { event: `${tag}/wild.*` }, async ({ event, step }) => {
    return step.run("caught", () => { count("caught"); return event.name; });
  }),
  // The concurrency number shorthand, with a throttle beside it (each was refused before).
  define(
    { id: "lane", retries: 0, concurrency: 1, throttle: { limit: 10, period: "1s" } },
    { event: `${tag}/lane` },
    async ({ step }) => step.run("in-lane", () => { count("in-lane"); return "laned"; }),
  ),
  // A run of an event whose `ts` is in the future starts at `ts`.
  define({ id: "later", retries: 0 }, { event: `${tag}/later` }, async ({ step }) => {
    return step.run("when", () => { count("when"); seen.laterRanAt = Date.now(); return "on time"; });
  }),
];

const server = createServer(serve({ client, functions }));
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const serveUrl = `http://127.0.0.1:${server.address().port}/api/inngest`;
const problems = [];
const expect = (ok, message) => { if (!ok) problems.push(message); };

async function gql(query, variables) {
  const response = await fetch(`${origin}/v0/gql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

async function runOf(eventId) {
  for (let i = 0; i < 150; i++) {
    const data = await gql("query($id: ID!) { event(query: {eventId: $id}) { functionRuns { id } } }", { id: eventId });
    const runs = data.event?.functionRuns ?? [];
    if (runs.length) return runs[0].id;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no run for event ${eventId}`);
}

async function finished(runId) {
  for (let i = 0; i < 300; i++) {
    const { run } = await gql("query($id: String!) { run(runID: $id) { status output } }", { id: runId });
    if (["COMPLETED", "FAILED", "CANCELLED"].includes(run.status)) return run;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`run ${runId} did not finish`);
}

try {
  // Sync as Inngest's dev server does: PUT the serve URL; the SDK then registers with the engine.
  const sync = await fetch(serveUrl, {
    method: "PUT",
    headers: { "content-type": "application/json", "x-inngest-server-kind": "dev" },
    body: JSON.stringify({ url: serveUrl }),
  });
  const syncBody = await sync.text();
  expect(sync.ok && !/"error"/.test(syncBody), `sync failed: ${sync.status} ${syncBody}`);

  const names = ["memo", "retry", "sleep", "parallel", "fail", "wild.hit", "lane", "later"];
  const laterTs = Date.now() + 3000;
  const { ids } = await client.send(
    names.map((name) => ({ name: `${tag}/${name}`, data: {}, ...(name === "later" ? { ts: laterTs } : {}) })),
  );
  const runs = {};
  for (const [index, name] of names.entries()) runs[name] = await finished(await runOf(ids[index]));

  expect(runs.memo.status === "COMPLETED", `memo: ${runs.memo.status} ${runs.memo.output}`);
  expect(runs.memo.output === JSON.stringify({ sum: 6 }), `memo output ${runs.memo.output}`);
  expect(calls.a === 1 && calls.b === 1 && calls.c === 1, `memo: each step once, got ${JSON.stringify(calls)}`);

  expect(runs.retry.status === "COMPLETED", `retry: ${runs.retry.status} ${runs.retry.output}`);
  expect(calls.limited === 2, `retry: 2 attempts, got ${calls.limited}`);
  // A lower bound only: the engine must not retry before the RetryAfterError's delay (no upper bound on speed).
  const waited = seen.secondAttemptAt - seen.firstAttemptAt;
  expect(waited >= 1900, `retry: the second attempt came ${waited} ms after the first, before retry-after (2 s)`);

  expect(runs.sleep.status === "COMPLETED" && runs.sleep.output === '"rested"', `sleep: ${JSON.stringify(runs.sleep)}`);
  expect(calls.before === 1 && calls.after === 1, `sleep: steps once each, got ${JSON.stringify(calls)}`);
  expect(seen.afterSleepAt - seen.beforeSleepAt >= 900, "sleep: the step after the sleep ran before it ended");

  expect(runs.parallel.status === "COMPLETED", `parallel: ${runs.parallel.status} ${runs.parallel.output}`);
  expect(JSON.parse(runs.parallel.output ?? "{}").total === 60, `parallel output ${runs.parallel.output}`);
  for (const n of [1, 2, 3]) expect(calls[`part-${n}`] === 1, `parallel: part-${n} ran ${calls[`part-${n}`]} times`);

  expect(runs.fail.status === "FAILED", `fail: ${runs.fail.status}`);
  for (let i = 0; i < 150 && !seen.failure; i++) await new Promise((r) => setTimeout(r, 200));
  expect(calls["on-failure"] === 1, `onFailure ran ${calls["on-failure"]} times`);
  expect(seen.failure?.message?.includes("this never works"), `onFailure error: ${JSON.stringify(seen.failure)}`);

  expect(runs["wild.hit"].status === "COMPLETED", `wildcard: ${JSON.stringify(runs["wild.hit"])}`);
  expect(runs["wild.hit"].output === JSON.stringify(`${tag}/wild.hit`), `wildcard output ${runs["wild.hit"].output}`);
  expect(runs.lane.status === "COMPLETED" && calls["in-lane"] === 1, `concurrency 1 + throttle: ${JSON.stringify(runs.lane)}`);
  expect(runs.later.status === "COMPLETED", `future ts: ${JSON.stringify(runs.later)}`);
  // A lower bound only: the run must not start before the event's `ts`.
  expect(seen.laterRanAt >= laterTs - 100, `future ts: ran ${laterTs - seen.laterRanAt} ms before its ts`);
} catch (error) {
  problems.push(String(error?.stack || error));
} finally {
  server.close();
}

if (problems.length) {
  console.log(`typescript ${version}: FAILED\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`typescript ${version}: passed (memoisation, RetryAfterError in a step, sleep, parallel steps, onFailure, wildcard trigger, concurrency 1 with throttle, future ts)`);
process.exit(0);
