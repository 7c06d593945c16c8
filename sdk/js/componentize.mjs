// Builds a wasmtrace plugin written in JavaScript into a component, with
// componentize-js (its JS API: the `jco componentize` CLI fails on paths).
// The SDK (wasmtrace.js, beside this script) is put beside the plugin, which
// imports it as './wasmtrace.js'.
// Usage: node componentize.mjs PLUGIN.js WIT_DIR OUT.wasm
import { componentize } from '@bytecodealliance/componentize-js';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const [source, wit, out] = process.argv.slice(2);
if (!source || !wit || !out) {
  console.error('usage: node componentize.mjs PLUGIN.js WIT_DIR OUT.wasm');
  process.exit(2);
}
const work = await mkdtemp(join(tmpdir(), 'wasmtrace-js-'));
try {
  await copyFile(resolve(source), join(work, 'plugin.js'));
  await copyFile(join(dirname(fileURLToPath(import.meta.url)), 'wasmtrace.js'), join(work, 'wasmtrace.js'));
  const { component } = await componentize({
    sourcePath: join(work, 'plugin.js'),
    witPath: resolve(wit),
    worldName: 'plugin',
    // The sandbox grants none of these; leaving them out keeps the component lean.
    disableFeatures: ['random', 'clocks', 'http', 'fetch-event'],
  });
  await writeFile(out, component);
} finally {
  await rm(work, { recursive: true, force: true });
}
