// opentop: which folders each command opens files in (@dirs[comm, dir]),
// and why opens fail (@errors[errno]). Probe: file.open.
//
// Config: `depth` (path components kept, default 2: /usr/lib).
import { errno } from 'wasmtrace:plugin/names@0.2.0';
import { Counter, comm, flush, text } from './wasmtrace.js';

let dirs, errors, depth;
const errnoNames = new Map();

function folder(path) {
  if (!path.startsWith('/')) return '.';
  const parts = path.split('/').filter((p) => p.length > 0);
  return '/' + parts.slice(0, Math.min(depth, parts.length - 1)).join('/');
}

export function init(config) {
  const depthValue = config.find(([key]) => key === 'depth');
  if (depthValue && depthValue[1].tag !== 'integer') throw 'config key `depth` must be an integer';
  depth = depthValue ? Number(depthValue[1].val) : 2;
  dirs = new Counter('dirs', ['comm', 'dir']);
  errors = new Counter('errors', ['errno']);
  return ['file.open'];
}

export function onEvents(batch) {
  const bodies = batch.bodies;
  for (let i = 0; i < bodies.length; i++) {
    if (bodies[i].tag !== 'file-open') continue;
    const open = bodies[i].val;
    dirs.add([comm(batch, i), folder(text(batch, open.path))]);
    if (open.ret < 0n) {
      const code = Number(-open.ret);
      if (!errnoNames.has(code)) errnoNames.set(code, errno(code) ?? String(code));
      errors.add([errnoNames.get(code)]);
    }
  }
  flush();
}

export function onTick() {}
