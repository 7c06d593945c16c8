// Builds a wasmtrace plugin written in JavaScript into a component, with
// componentize-js (its JS API: the `jco componentize` CLI fails on paths).
// Usage: node componentize.mjs PLUGIN.js WIT_DIR OUT.wasm
import { componentize } from '@bytecodealliance/componentize-js';
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';

const [source, wit, out] = process.argv.slice(2);
if (!source || !wit || !out) {
  console.error('usage: node componentize.mjs PLUGIN.js WIT_DIR OUT.wasm');
  process.exit(2);
}
const { component } = await componentize({
  sourcePath: resolve(source),
  witPath: resolve(wit),
  worldName: 'plugin',
  // The sandbox grants none of these; leaving them out keeps the component lean.
  disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
});
await writeFile(out, component);
