// Package wasmtrace is the Go SDK for wasmtrace plugins: it implements the
// plugin side of wasmtrace's WIT contract (wit/plugin.wit) with the
// standard library alone, for GOOS=wasip1 GOARCH=wasm -buildmode=c-shared.
//
// A plugin registers itself from an init function:
//
//	func init() {
//		wasmtrace.Register([]string{"file.open"}, func(c wasmtrace.Config) (wasmtrace.Plugin, error) {
//			return &opens{count: wasmtrace.NewCounter("opens", "comm")}, nil
//		})
//	}
//
//	func main() {}
package wasmtrace

// Plugin handles events. One instance lives for the plugin's lifetime.
type Plugin interface {
	// OnEvent is called for each event of a batch, in order.
	OnEvent(e *Event)
}

// Ticker is a Plugin with periodic work: OnTick is called every output
// interval and once before the host exits.
type Ticker interface {
	OnTick()
}

var (
	probes    []string
	newPlugin func(Config) (Plugin, error)
	plugin    Plugin
	// The index in its batch of the event being handled, or -1: rows and
	// findings emitted meanwhile are about it.
	current int32 = -1
)

// Register names the probes the plugin wants (the config's `probes` key
// overrides them) and how to build it from its config table. Call it from
// an init function of package main.
func Register(wants []string, build func(Config) (Plugin, error)) {
	probes, newPlugin = wants, build
}

// init's result, result<list<string>, string>: the case, then the list or
// the message. The host reads it after the call returns.
var initResult struct {
	failed     uint32
	addr, len  uint32
	probeList  []abiList
	probeNames []string
	message    string
}

//go:wasmexport init
func exportInit(config, n uint32) uint32 {
	defer endCall()
	err := start(liftConfig(config, n))
	flushAll()
	r := &initResult
	if err != nil {
		r.message = err.Error()
		m := lowerString(r.message)
		r.failed, r.addr, r.len = 1, m.addr, m.len
	} else {
		r.probeNames = probes
		r.probeList = lowerStrings(probes)
		l := lowerList(r.probeList)
		r.failed, r.addr, r.len = 0, l.addr, l.len
	}
	return addrOf(&r.failed)
}

func start(c Config) error {
	if newPlugin == nil {
		return errNotRegistered{}
	}
	p, err := newPlugin(c)
	plugin = p
	return err
}

type errNotRegistered struct{}

func (errNotRegistered) Error() string {
	return "the plugin did not call wasmtrace.Register from an init function"
}

//go:wasmexport on-events
func exportOnEvents(batch uint32) {
	defer endCall()
	if plugin == nil {
		return
	}
	// The batch's fields (records.go has their offsets).
	h := batch + batchHeaders
	timestamps := listAt[uint64](h + headersTimestampNs)
	cpus := listAt[uint32](h + headersCPU)
	pids := listAt[uint32](h + headersPid)
	tids := listAt[uint32](h + headersTid)
	ppids := listAt[uint32](h + headersPpid)
	uids := listAt[uint32](h + headersUID)
	gids := listAt[uint32](h + headersGID)
	commIndex := listAt[uint32](h + headersComm)
	cgroups := listAt[uint64](h + headersCgroupID)
	containerIndex := listAt[uint32](h + headersContainer)
	kernelStacks := listAt[uint32](h + headersKernelStack)
	userStacks := listAt[uint32](h + headersUserStack)

	commList := listAt[abiList](batch + batchComms)
	comms := make([]string, len(commList))
	for i := range commList {
		comms[i] = stringAt(addrOf(&commList[i]))
	}
	containers := liftContainers(batch + batchContainers)
	bodiesAt := u32At(batch + batchBodies)
	n := u32At(batch + batchBodies + 4)
	e := Event{text: listAt[byte](batch + batchText)}
	for i := range n {
		e.Header = Header{
			TimestampNs: timestamps[i], CPU: cpus[i], Pid: pids[i], Tid: tids[i], Ppid: ppids[i],
			UID: uids[i], GID: gids[i], Comm: comms[commIndex[i]], CgroupID: cgroups[i],
			KernelStack: kernelStacks[i], UserStack: userStacks[i],
		}
		if c := containerIndex[i]; c > 0 {
			e.Header.Container = &containers[c-1]
		}
		e.Body = liftBody(bodiesAt + bodySize*i)
		current = int32(i)
		plugin.OnEvent(&e)
	}
	current = -1
	flushAll()
}

//go:wasmexport on-tick
func exportOnTick() {
	defer endCall()
	if t, ok := plugin.(Ticker); ok {
		t.OnTick()
	}
	flushAll()
}
