package wasmtrace

import (
	"encoding/binary"
	"runtime"
	"strings"
)

// Host-owned maps. Updates made during a call (a batch, a tick) are kept in
// the plugin and sent to the host in one crossing per map when it returns.

// The maps with updates to send, in creation order.
var buffered []flusher

type flusher interface{ flush() }

func flushAll() {
	for _, m := range buffered {
		m.flush()
	}
}

// newMap creates a host map with a constructor of the maps interface.
func newMap(constructor func(name, nameLen, labels, labelsLen uint32) uint32, name string, labels []string) uint32 {
	lowered := lowerStrings(labels)
	n := lowerString(name)
	l := lowerList(lowered)
	handle := constructor(n.addr, n.len, l.addr, l.len)
	runtime.KeepAlive(name)
	runtime.KeepAlive(labels)
	runtime.KeepAlive(lowered)
	return handle
}

// A key and an amount, as list<tuple<list<string>, u64>> lays them out.
type keyed struct {
	key   abiList
	value uint64
}

// updates are a map's (key, amount) pairs kept for one *-many call.
type updates struct {
	handle uint32
	send   func(handle, updates, n uint32)
	keys   [][]string
	values []uint64
}

func (u *updates) flush() {
	if len(u.keys) == 0 {
		return
	}
	parts := make([][]abiList, len(u.keys))
	lowered := make([]keyed, len(u.keys))
	for i, key := range u.keys {
		parts[i] = lowerStrings(key)
		lowered[i] = keyed{lowerList(parts[i]), u.values[i]}
	}
	l := lowerList(lowered)
	u.send(u.handle, l.addr, l.len)
	runtime.KeepAlive(u.keys)
	runtime.KeepAlive(parts)
	runtime.KeepAlive(lowered)
	clear(u.keys)
	u.keys, u.values = u.keys[:0], u.values[:0]
}

// Counter is a sum per key, like bpftrace's @name[key] = count().
type Counter struct {
	updates
	// Where each key's sum is in updates, by encoded key.
	index  map[string]int
	encode []byte
}

// NewCounter creates (or finds) the host map name; labels name the parts of
// its key, e.g. "comm", "path". No labels: a single value.
func NewCounter(name string, labels ...string) *Counter {
	c := &Counter{
		updates: updates{handle: newMap(hostCounterNew, name, labels), send: hostCounterAddMany},
		index:   map[string]int{},
	}
	buffered = append(buffered, c)
	return c
}

// Add adds delta to the sum of the key (one part per label).
func (c *Counter) Add(delta uint64, key ...string) {
	c.encode = encodeKey(c.encode[:0], key)
	// The lookup does not allocate: Go converts the key in place.
	if i, ok := c.index[string(c.encode)]; ok {
		c.values[i] += delta
		return
	}
	c.index[string(c.encode)] = len(c.keys)
	c.keys = append(c.keys, cloneKey(key))
	c.values = append(c.values, delta)
}

func (c *Counter) flush() {
	c.updates.flush()
	clear(c.index)
}

// encodeKey writes a key's parts, each after its length, so that two keys
// are equal exactly when their encodings are.
func encodeKey(buf []byte, key []string) []byte {
	for _, part := range key {
		buf = binary.AppendUvarint(buf, uint64(len(part)))
		buf = append(buf, part...)
	}
	return buf
}

// cloneKey copies a key whose parts may alias a batch's memory.
func cloneKey(key []string) []string {
	out := make([]string, len(key))
	for i, part := range key {
		out[i] = strings.Clone(part)
	}
	return out
}

// Log2Histogram is a power-of-two histogram per key, like bpftrace's
// @name[key] = hist(value).
type Log2Histogram struct {
	updates
}

// NewLog2Histogram creates (or finds) the host map name; labels as for NewCounter.
func NewLog2Histogram(name string, labels ...string) *Log2Histogram {
	h := &Log2Histogram{updates{handle: newMap(hostHistogramNew, name, labels), send: hostHistogramRecordMany}}
	buffered = append(buffered, h)
	return h
}

// Record counts value in the key's histogram.
func (h *Log2Histogram) Record(value uint64, key ...string) {
	// The parts are read when the call returns, while the batch is alive;
	// the slice itself may be the caller's, so it is copied.
	h.keys = append(h.keys, append([]string(nil), key...))
	h.values = append(h.values, value)
}

// Gauge is a last value per key. Not buffered: gauges are set rarely.
type Gauge struct{ handle uint32 }

// NewGauge creates (or finds) the host map name; labels as for NewCounter.
func NewGauge(name string, labels ...string) *Gauge {
	return &Gauge{newMap(hostGaugeNew, name, labels)}
}

// Set sets the key's value.
func (g *Gauge) Set(value int64, key ...string) {
	parts := lowerStrings(key)
	k := lowerList(parts)
	hostGaugeSet(g.handle, k.addr, k.len, value)
	runtime.KeepAlive(key)
	runtime.KeepAlive(parts)
}

// StackCounter is a count per stack and key, like bpftrace's
// @name[kstack, ustack, comm] = count(): the host names the frames and
// writes flame graphs and pprof profiles of it. Not buffered: stacks come
// from sampling, at a rate the host sets.
type StackCounter struct{ handle uint32 }

// NewStackCounter creates (or finds) the host map name; labels name the
// parts of its key besides the two stacks.
func NewStackCounter(name string, labels ...string) *StackCounter {
	return &StackCounter{newMap(hostStackCounterNew, name, labels)}
}

// Add adds delta to (kernel stack, user stack, key); the stack ids are the
// event header's (0: none).
func (c *StackCounter) Add(kernelStack, userStack uint32, delta uint64, key ...string) {
	parts := lowerStrings(key)
	k := lowerList(parts)
	hostStackCounterAdd(c.handle, kernelStack, userStack, k.addr, k.len, delta)
	runtime.KeepAlive(key)
	runtime.KeepAlive(parts)
}
