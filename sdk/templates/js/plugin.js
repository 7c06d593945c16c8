// {{name}}: counts file opens per command (@opens[comm]). Make it yours.
// wasmtrace.js is the SDK: text(), comm(), container() read an event's
// fields; Counter sums in the plugin and sends once per batch (flush()).
import { Counter, comm, flush } from './wasmtrace.js';

let opens;

export function init(config) {
  opens = new Counter('opens', ['comm']);
  return ['file.open'];
}

export function onEvents(batch) {
  const bodies = batch.bodies;
  for (let i = 0; i < bodies.length; i++) {
    if (bodies[i].tag === 'file-open') opens.add([comm(batch, i)]);
  }
  flush();
}

export function onTick() {}
