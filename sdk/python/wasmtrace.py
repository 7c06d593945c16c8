"""The Python SDK for wasmtrace plugins.

Subclass `Plugin` as `WitWorld` in your `app.py`, set `probes`, and write
`setup`, `on_event` and (if you like) `tick`. Build with
`componentize-py -d WIT -w plugin componentize -p . -p SDK app -o NAME.wasm`.
Map updates are buffered during a batch and sent in one call per map.

An event is `Event`: `event.header.pid`, `event.header.comm`, ...,
`event.body` (one `events.Body_*` class per probe, its record in `.value`),
and `event.text(span)` for a string of the record (a path, an address).
"""

from componentize_py_types import Err
import wit_world
from wit_world.imports import log as _log
from wit_world.imports import maps as _maps
from wit_world.imports import output as _output
from wit_world.imports import types as _types
from wit_world.imports import events  # noqa: F401  (re-exported for plugins)
from wit_world.imports import names  # noqa: F401
from wit_world.imports import stacks  # noqa: F401  (stacks.frames(id) names a stack)

_buffered = []
# The index of the event being handled: rows and findings emitted meanwhile
# are about it, and the host adds its container.
_current = None


def _flush():
    for m in _buffered:
        m.flush()


class Config:
    """The plugin's `[plugin.NAME.config]` table, with typed getters."""

    def __init__(self, entries):
        self._entries = dict(entries)

    def _get(self, key, kind, what, default):
        v = self._entries.get(key)
        if v is None:
            return default
        if not isinstance(v, kind):
            raise Err(f"config key `{key}` must be {what}")
        return v.value

    def text(self, key, default=None):
        return self._get(key, _types.ConfigValue_Text, "a string", default)

    def integer(self, key, default=None):
        return self._get(key, _types.ConfigValue_Integer, "an integer", default)

    def boolean(self, key, default=None):
        return self._get(key, _types.ConfigValue_Boolean, "true or false", default)

    def texts(self, key, default=None):
        return self._get(key, _types.ConfigValue_Texts, "a list of strings", default)


def value(v):
    """A Python value as a WIT `value`."""
    if isinstance(v, bool):
        return _types.Value_Boolean(v)
    if isinstance(v, int):
        return _types.Value_Int(v) if v < 0 else _types.Value_Uint(v)
    if isinstance(v, float):
        return _types.Value_Float(v)
    return _types.Value_Text(str(v))


def finding(severity, rule, message, **fields):
    """Reports a detection; severity is "info", "low", "medium", "high" or "critical"."""
    _output.emit_finding(
        _output.Finding(_output.Severity[severity.upper()], rule, message, [(k, value(v)) for k, v in fields.items()],
                        _current)
    )


def columns(*names):
    _output.set_columns(list(names))


def row(*values):
    _output.emit_row([value(v) for v in values], _current)


def log(message, level="info"):
    _log.log(_log.Level[level.upper()], message)


class Counter:
    """A sum per key, like bpftrace's count()."""

    def __init__(self, name, labels=()):
        self._map = _maps.Counter(name, list(labels))
        self._sums = {}
        _buffered.append(self)

    def add(self, key=(), delta=1):
        key = tuple(key)
        self._sums[key] = self._sums.get(key, 0) + delta

    def flush(self):
        if self._sums:
            self._map.add_many([(list(k), n) for k, n in self._sums.items()])
            self._sums = {}


class Histogram:
    """A power-of-two histogram per key, like bpftrace's hist()."""

    def __init__(self, name, labels=()):
        self._map = _maps.Log2Histogram(name, list(labels))
        self._values = []
        _buffered.append(self)

    def record(self, key, value):
        self._values.append((list(key), value))

    def flush(self):
        if self._values:
            self._map.record_many(self._values)
            self._values = []


class StackCounter:
    """A count per stack and key, like bpftrace's `@[kstack, ustack, comm] = count()`:
    the host names the frames and writes flame graphs and pprof profiles of it."""

    def __init__(self, name, labels=()):
        self._map = _maps.StackCounter(name, list(labels))

    def add(self, kernel_stack, user_stack, key=(), delta=1):
        """Stack ids are the header's (0: none)."""
        self._map.add(kernel_stack, user_stack, list(key), delta)


class Header:
    """Fields every event carries, read from the batch's columns when asked:
    a plugin that looks only at bodies pays for no header."""

    __slots__ = ("_batch", "_i")

    def __init__(self, batch, i):
        self._batch = batch
        self._i = i

    def _column(name):
        return property(lambda self: getattr(self._batch.headers, name)[self._i])

    timestamp_ns = _column("timestamp_ns")
    cpu = _column("cpu")
    pid = _column("pid")
    tid = _column("tid")
    ppid = _column("ppid")
    uid = _column("uid")
    gid = _column("gid")
    cgroup_id = _column("cgroup_id")
    # Stack ids, when the probe carries stacks (0: none): count by them with a
    # StackCounter, name their frames with stacks.frames(id).
    kernel_stack = _column("kernel_stack")
    user_stack = _column("user_stack")
    comm = property(lambda self: self._batch.comms[self._batch.headers.comm[self._i]])
    del _column

    @property
    def container(self):
        """The `events.Container` it ran in, or None for a process of the host."""
        n = self._batch.headers.container[self._i]
        return self._batch.containers[n - 1] if n else None


class Event:
    """One event of a batch: `header`, `body`, and `text(span)` for its strings."""

    __slots__ = ("body", "header", "_text")

    def __init__(self, batch, i, body):
        self.body = body
        self.header = Header(batch, i)
        self._text = batch.text

    def text(self, span):
        """A string of the record: `event.text(open.path)`."""
        return self._text[span.start:span.start + span.len].decode()

    def texts(self, spans):
        """The strings of a list, e.g. `event.texts(exec.argv)`."""
        return [self.text(span) for span in spans]


_instance = None


class Plugin(wit_world.WitWorld):
    """Base class: set `probes`, override `setup`, `on_event`, `tick`.

    componentize-py makes a new `WitWorld` object for every call, so the one
    that `init` set up is kept here and serves every later call."""

    probes = []

    def setup(self, config):
        pass

    def on_event(self, event):
        pass

    def tick(self):
        pass

    def init(self, config):
        global _instance
        _instance = self
        self.setup(Config(config))
        _flush()
        return list(self.probes)

    def on_events(self, batch):
        global _current
        on_event = _instance.on_event
        try:
            for i, body in enumerate(batch.bodies):
                _current = i
                on_event(Event(batch, i, body))
        finally:
            _current = None
        _flush()

    def on_tick(self):
        _instance.tick()
        _flush()
