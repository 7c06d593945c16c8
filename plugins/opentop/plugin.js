// opentop: which folders each command opens files in (@dirs[comm, dir]),
// and why opens fail (@errors[errno]). Probe: file.open.
//
// Config: `depth` (path components kept, default 2: /usr/lib).
import { Counter } from 'wasmtrace:plugin/maps@0.1.0';
import { errno } from 'wasmtrace:plugin/names@0.1.0';

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
  // Sum in the plugin, then one host call per map for the whole batch.
  const dirSums = new Map();
  const errorSums = new Map();
  for (const event of batch) {
    if (event.body.tag !== 'file-open') continue;
    const open = event.body.val;
    const key = event.header.comm + '\u0000' + folder(open.path);
    dirSums.set(key, (dirSums.get(key) ?? 0n) + 1n);
    if (open.ret < 0n) {
      const code = Number(-open.ret);
      if (!errnoNames.has(code)) errnoNames.set(code, errno(code) ?? String(code));
      const name = errnoNames.get(code);
      errorSums.set(name, (errorSums.get(name) ?? 0n) + 1n);
    }
  }
  if (dirSums.size) dirs.addMany([...dirSums].map(([key, n]) => [key.split('\u0000'), n]));
  if (errorSums.size) errors.addMany([...errorSums].map(([name, n]) => [[name], n]));
}

export function onTick() {}
