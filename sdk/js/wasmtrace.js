// The JavaScript SDK for wasmtrace plugins: a batch's events, read where
// they are, and host maps whose updates are summed in the plugin and sent
// in one call per map. Import it as './wasmtrace.js' (componentize.mjs puts
// it beside the plugin).
//
// A batch holds one probe's events: `batch.bodies[i]` is event i's record
// (`{ tag: 'file-open', val: { path, flags, ... } }`), its common fields are
// columns (`batch.headers.pid[i]`, ...), and its strings are spans of
// `batch.text` that `text()` reads.
import { Counter as HostCounter, Log2Histogram as HostHistogram } from 'wasmtrace:plugin/maps@0.2.0';

// Counts by stack (`batch.headers.kernelStack[i]`, `userStack[i]`; 0: none),
// as bpftrace's `@[kstack, ustack, comm] = count()`: `new StackCounter(name,
// labels).add(kernelStack, userStack, key, BigInt(n))`. `frames(id)` names
// a stack's frames.
export { StackCounter } from 'wasmtrace:plugin/maps@0.2.0';
export { frames } from 'wasmtrace:plugin/stacks@0.2.0';

const decoder = new TextDecoder();

/** A string of event data (a path, an address, an argument): `text(batch, open.path)`. */
export function text(batch, span) {
  return decoder.decode(batch.text.subarray(span.start, span.start + span.len));
}

/** Event i's command name. */
export function comm(batch, i) {
  return batch.comms[batch.headers.comm[i]];
}

/** Event i's container (`{ runtime, id, name, image, pod }`), or undefined for a process of the host. */
export function container(batch, i) {
  const n = batch.headers.container[i];
  return n ? batch.containers[n - 1] : undefined;
}

const buffered = [];

/** Sends what the maps gathered: call it at the end of onEvents and onTick. */
export function flush() {
  for (const map of buffered) map.flush();
}

// Key parts are joined with NUL, which no kernel string holds.
const SEP = '\u0000';

/** A sum per key, like bpftrace's count(): `opens.add([comm(batch, i)])`. */
export class Counter {
  constructor(name, labels) {
    this.map = new HostCounter(name, labels);
    this.sums = new Map();
    buffered.push(this);
  }

  add(key, delta = 1) {
    const k = key.join(SEP);
    this.sums.set(k, (this.sums.get(k) ?? 0) + delta);
  }

  flush() {
    if (this.sums.size === 0) return;
    this.map.addMany([...this.sums].map(([k, n]) => [k.split(SEP), BigInt(n)]));
    this.sums.clear();
  }
}

/** A power-of-two histogram per key, like bpftrace's hist(). */
export class Log2Histogram {
  constructor(name, labels) {
    this.map = new HostHistogram(name, labels);
    this.values = [];
    buffered.push(this);
  }

  record(key, value) {
    this.values.push([key, BigInt(value)]);
  }

  flush() {
    if (this.values.length === 0) return;
    this.map.recordMany(this.values);
    this.values = [];
  }
}
