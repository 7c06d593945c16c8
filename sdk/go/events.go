package wasmtrace

// Events as a plugin sees them: one Event at a time, its common fields in
// a Header and its probe's record in Body, whose strings are Texts that
// Event.Text reads.
//
// A batch crosses into the plugin as columns (one list per header field),
// one record per event and one byte table holding every string; the SDK
// reads them in place, so nothing is copied or allocated per event. The
// strings it returns alias the batch: strings.Clone one to keep it in a
// map beyond the call (map keys of Counter and friends are copied already).

import "unsafe"

// Text is a string of an event's record: Event.Text reads it.
type Text struct{ Start, Len uint32 }

// Header holds the fields every event carries.
type Header struct {
	// Nanoseconds since boot (CLOCK_BOOTTIME).
	TimestampNs uint64
	// CPU the event happened on.
	CPU uint32
	// Process id (the thread-group id, what ps shows as PID).
	Pid uint32
	// Thread id.
	Tid uint32
	// Parent's process id.
	Ppid uint32
	UID  uint32
	GID  uint32
	// Command name, at most 15 bytes (the kernel's comm).
	Comm string
	// Id of the task's cgroup (v2).
	CgroupID uint64
	// The container it ran in; nil for a process of the host.
	Container *Container
	// The kernel stack's id, when the probe carries stacks (0: none): count
	// by it with a StackCounter.
	KernelStack uint32
	// The user stack's id, as KernelStack.
	UserStack uint32
}

// ContainerName is the container's name (under Kubernetes, the container's
// name in its pod), or "-" for a process of the host: a CONTAINER column.
func (h *Header) ContainerName() string {
	if h.Container == nil {
		return "-"
	}
	return h.Container.Name
}

// Container is the container an event came from.
type Container struct {
	Runtime Runtime
	// The runtime's id: 64 hex digits.
	ID string
	// Its name, as podman ps or docker ps show it (the pod's container name under Kubernetes).
	Name string
	// The image it was started from, as given to the runtime.
	Image string
	// Set when Kubernetes started it.
	Pod *Pod
}

// Pod is a Kubernetes pod's container.
type Pod struct {
	Namespace string
	// The pod's name.
	Name string
	// The container's name in the pod.
	Container string
}

// Event is one event: its header, its probe's record, and the strings
// they point at. The SDK reuses it for the next event: keep what you need,
// not the Event or its Body.
type Event struct {
	Header Header
	// One of *ProcessExec, *ProcessExit, *FileOpen, ... (a type switch
	// picks the probe).
	Body Body
	text []byte
}

// Text reads a string of the event's record: a path, an address, an argument.
func (e *Event) Text(t Text) string {
	end := uint64(t.Start) + uint64(t.Len)
	if t.Len == 0 || end > uint64(len(e.text)) {
		return ""
	}
	return unsafe.String(&e.text[t.Start], t.Len)
}

// Texts reads a list of strings, such as ProcessExec.Argv.
func (e *Event) Texts(list []Text) []string {
	out := make([]string, len(list))
	for i, t := range list {
		out[i] = e.Text(t)
	}
	return out
}

// Body is the probe-specific part of an event.
type Body interface {
	// Probe is the catalog's name of the probe, e.g. "file.open".
	Probe() string
}

func enumName[T ~uint8](v T, names ...string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return "unknown"
}
