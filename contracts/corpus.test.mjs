// The corpus (corpus/cases.json) through the generated Zod schemas (ts/events.ts): each verdict and the fields its
// errors name must be the ones recorded. tests/contracts/test_corpus.py runs this and the same corpus in Python.
// Usage: node --test corpus.test.mjs
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadCorpus, loadEvents } from "./load-events.mjs";

const { eventSchemas } = await loadEvents();
const cases = await loadCorpus();

// The wire fields an issue names: the keys of an unrecognized_keys issue, else the path's first part.
function fieldsOf(issues) {
  const fields = new Set();
  for (const issue of issues) {
    if (issue.code === "unrecognized_keys") issue.keys.forEach((key) => fields.add(key));
    else fields.add(issue.path.length ? String(issue.path[0]) : "(payload)");
  }
  return [...fields].sort();
}

test("every event in the corpus has a generated schema", () => {
  for (const { id, event } of cases) assert.ok(eventSchemas[event], `${id}: no schema for ${event}`);
  assert.deepEqual(new Set(cases.map((c) => c.event)), new Set(Object.keys(eventSchemas)));
});

for (const { id, event, payload, valid, fields } of cases) {
  test(id, () => {
    const result = eventSchemas[event].safeParse(payload);
    const got = result.success ? { valid: true } : { valid: false, fields: fieldsOf(result.error.issues) };
    assert.deepEqual(got, valid ? { valid } : { valid, fields });
  });
}
