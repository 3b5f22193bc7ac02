// Imports the committed ts/events.ts from node (node 20 runs no TypeScript): transpiled with the pinned
// typescript, types erased, written beside node_modules so that its `import "zod"` resolves to the pinned zod.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

export const here = dirname(fileURLToPath(import.meta.url));

export async function loadEvents() {
  const source = await readFile(join(here, "ts", "events.ts"), "utf8");
  const js = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText;
  const built = join(here, "node_modules", ".generated", "events.mjs");
  await mkdir(dirname(built), { recursive: true });
  await writeFile(built, js);
  return import(pathToFileURL(built).href);
}

export async function loadCorpus() {
  return JSON.parse(await readFile(join(here, "corpus", "cases.json"), "utf8")).cases;
}
