"""The Python SDK for wasmtrace plugins.

Subclass `Plugin` as `WitWorld` in your `app.py`, set `probes`, and write
`setup`, `on_event` and (if you like) `tick`. Build with
`componentize-py -d WIT -w plugin componentize -p . -p SDK app -o NAME.wasm`.
Map updates are buffered during a batch and sent in one call per map.
"""

from componentize_py_types import Err
import wit_world
from wit_world.imports import log as _log
from wit_world.imports import maps as _maps
from wit_world.imports import output as _output
from wit_world.imports import types as _types
from wit_world.imports import events  # noqa: F401  (re-exported for plugins)
from wit_world.imports import names  # noqa: F401

_buffered = []


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
        _output.Finding(_output.Severity[severity.upper()], rule, message, [(k, value(v)) for k, v in fields.items()])
    )


def columns(*names):
    _output.set_columns(list(names))


def row(*values):
    _output.emit_row([value(v) for v in values])


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
        on_event = _instance.on_event
        for event in batch:
            on_event(event)
        _flush()

    def on_tick(self):
        _instance.tick()
        _flush()
