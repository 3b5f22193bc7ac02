// A TypeScript producer: sends the corpus's good payloads with Inngest's TypeScript SDK, each validated with the
// generated Zod schema first and sent with its version as `v`, to an Inngest server (the local engine in
// tests/pipeline/test_e2e_typescript_producer.py).
// Usage: node send-corpus.mjs <server origin> <tenantId> <contactId,contactId,...>; prints {caseId: eventId}.
// The corpus's tenant and contacts are replaced by the given ones (the n-th good case gets the n-th contact) so
// that the functions find them and per-contact flow control (debounce, rate limit) keeps one run per event.
import { Inngest } from "inngest";
import { loadCorpus, loadEvents } from "./load-events.mjs";

const [origin, tenantId, contacts] = process.argv.slice(2);
const contactIds = contacts.split(",");
const { eventSchemas, eventVersions } = await loadEvents();
const good = (await loadCorpus()).filter((c) => c.valid && !c.python);

const quiet = { info() {}, warn() {}, error() {}, debug() {} };
const inngest = new Inngest({ id: "typescript-producer", isDev: true, baseUrl: origin, logger: quiet });
const sent = {};
if (contactIds.length < good.length) throw new Error(`${good.length} good cases need as many contacts`);
for (const [index, { id, event, payload }] of good.entries()) {
  const data = eventSchemas[event].parse({ ...payload, tenantId, contactId: contactIds[index] });
  const { ids } = await inngest.send({ name: event, data, v: eventVersions[event] });
  sent[id] = ids[0];
}
console.log(JSON.stringify(sent));
