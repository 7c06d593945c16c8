// {{name}}: counts file opens per command (@opens[comm]). Make it yours.
import { Counter } from 'wasmtrace:plugin/maps@0.1.0';

let opens;

export function init(config) {
  opens = new Counter('opens', ['comm']);
  return ['file.open'];
}

export function onEvents(batch) {
  // Sum in the plugin, then one host call for the whole batch (u64 → BigInt).
  const sums = new Map();
  for (const event of batch) {
    if (event.body.tag !== 'file-open') continue;
    sums.set(event.header.comm, (sums.get(event.header.comm) ?? 0n) + 1n);
  }
  if (sums.size) opens.addMany([...sums].map(([comm, n]) => [[comm], n]));
}

export function onTick() {}
