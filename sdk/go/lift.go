package wasmtrace

// Reading a batch as the host lays it out (the canonical ABI): a record's
// fields in order, each at the next multiple of its own size.

// cursor walks a record's fields.
type cursor uint32

func (c *cursor) align(to uint32) uint32 {
	a := (uint32(*c) + to - 1) &^ (to - 1)
	*c = cursor(a)
	return a
}

func (c *cursor) take(size uint32) uint32 {
	a := c.align(size)
	*c = cursor(a + size)
	return a
}

func (c *cursor) u8() uint8   { return u8At(c.take(1)) }
func (c *cursor) bool() bool  { return c.u8() != 0 }
func (c *cursor) u16() uint16 { return u16At(c.take(2)) }
func (c *cursor) u32() uint32 { return u32At(c.take(4)) }
func (c *cursor) s32() int32  { return int32(c.u32()) }
func (c *cursor) u64() uint64 { return u64At(c.take(8)) }
func (c *cursor) s64() int64  { return int64(c.u64()) }

func (c *cursor) text() Text { return Text{Start: c.u32(), Len: c.u32()} }

func (c *cursor) texts() []Text {
	a := c.take(4)
	c.take(4)
	return listAt[Text](a)
}

// ends reads a tcp-ends record: 4-byte aligned, and as long as a multiple of 4.
func (c *cursor) ends() TCPEnds {
	c.align(4)
	e := TCPEnds{Family: IPFamily(c.u8()), Saddr: c.text(), Sport: c.u16(), Daddr: c.text(), Dport: c.u16()}
	c.align(4)
	return e
}

// A body is the variant's case (a byte), then its record at offset 8 (the
// largest alignment of any case): 64 bytes, for the largest records
// (memory.oom-kill, net.tcp.life) take 56.
const bodySize = 64

// One record per probe, reused from event to event.
var bodies struct {
	processExec      ProcessExec
	processExit      ProcessExit
	fileOpen         FileOpen
	syscallEnter     SyscallEnter
	signalKill       SignalKill
	processSleep     ProcessSleep
	fileSync         FileSync
	fileStat         FileStat
	securitySetuid   SecuritySetuid
	processFork      ProcessFork
	securityCapable  SecurityCapable
	memoryOomKill    MemoryOomKill
	netTCPConnect    NetTCPConnect
	netTCPLife       NetTCPLife
	netTCPRetransmit NetTCPRetransmit
	netTCPAccept     NetTCPAccept
	netTCPDrop       NetTCPDrop
	shellReadline    ShellReadline
	processThread    ProcessThread
	netTCPSynBacklog NetTCPSynBacklog
	fileLatency      FileLatency
	memorySwapin     MemorySwapin
	fileUnlink       FileUnlink
}

// liftBody reads the body at addr, in the order of the WIT's `variant body`.
func liftBody(addr uint32) Body {
	c := cursor(addr + 8)
	switch u8At(addr) {
	case 0:
		b := &bodies.processExec
		*b = ProcessExec{CallerComm: c.text(), Filename: c.text(), Argv: c.texts(), ArgvTruncated: c.bool(), Ret: c.s32()}
		return b
	case 1:
		b := &bodies.processExit
		*b = ProcessExit{ExitCode: c.u32(), Signal: c.u32(), CoreDumped: c.bool(), LifetimeNs: c.u64()}
		return b
	case 2:
		b := &bodies.fileOpen
		*b = FileOpen{Path: c.text(), Flags: c.u32(), Mode: c.u32(), Dfd: c.s32(), Ret: c.s64()}
		return b
	case 3:
		b := &bodies.syscallEnter
		*b = SyscallEnter{ID: c.u32()}
		return b
	case 4:
		b := &bodies.signalKill
		*b = SignalKill{Call: KillCall(c.u8()), Target: c.s32(), Signal: c.u32(), Ret: c.s32()}
		return b
	case 5:
		b := &bodies.processSleep
		*b = ProcessSleep{DurationNs: c.u64(), Clock: c.u32(), Absolute: c.bool(), ParentComm: c.text()}
		return b
	case 6:
		b := &bodies.fileSync
		*b = FileSync{Call: SyncCall(c.u8()), Fd: c.s32()}
		return b
	case 7:
		b := &bodies.fileStat
		*b = FileStat{Call: StatCall(c.u8()), Path: c.text(), Ret: c.s32()}
		return b
	case 8:
		b := &bodies.securitySetuid
		*b = SecuritySetuid{Call: SetuidCall(c.u8()), CallerUID: c.u32(), UID: c.s32(), EUID: c.s32(), SUID: c.s32(), Ret: c.s32()}
		return b
	case 9:
		b := &bodies.processFork
		*b = ProcessFork{ChildPid: c.u32()}
		return b
	case 10:
		b := &bodies.securityCapable
		*b = SecurityCapable{Cap: c.u32(), Ret: c.s32()}
		return b
	case 11:
		b := &bodies.memoryOomKill
		*b = MemoryOomKill{VictimPid: c.u32(), VictimComm: c.text(), VictimUID: c.u32(), TotalVMKb: c.u64(),
			AnonRssKb: c.u64(), FileRssKb: c.u64(), ShmemRssKb: c.u64(), OomScoreAdj: c.s32()}
		return b
	case 12:
		b := &bodies.netTCPConnect
		*b = NetTCPConnect{Ends: c.ends(), Established: c.bool(), LatencyNs: c.u64()}
		return b
	case 13:
		b := &bodies.netTCPLife
		*b = NetTCPLife{Ends: c.ends(), DurationNs: c.u64(), RxBytes: c.u64(), TxBytes: c.u64()}
		return b
	case 14:
		b := &bodies.netTCPRetransmit
		*b = NetTCPRetransmit{Ends: c.ends(), State: TCPState(c.u8())}
		return b
	case 15:
		b := &bodies.netTCPAccept
		*b = NetTCPAccept{Ends: c.ends(), Backlog: c.u32(), MaxBacklog: c.u32()}
		return b
	case 16:
		b := &bodies.netTCPDrop
		*b = NetTCPDrop{Ends: c.ends(), TCPFlags: c.u8(), Reason: c.u32()}
		return b
	case 17:
		b := &bodies.shellReadline
		*b = ShellReadline{Line: c.text()}
		return b
	case 18:
		b := &bodies.processThread
		*b = ProcessThread{StartRoutine: c.u64()}
		return b
	case 19:
		b := &bodies.netTCPSynBacklog
		*b = NetTCPSynBacklog{Ends: c.ends(), Backlog: c.u32(), MaxBacklog: c.u32()}
		return b
	case 20:
		b := &bodies.fileLatency
		*b = FileLatency{Op: FileOp(c.u8()), FsType: c.text(), LatencyNs: c.u64(), Fd: c.s32(), Ret: c.s64()}
		return b
	case 21:
		b := &bodies.memorySwapin
		*b = MemorySwapin{Pages: c.u32(), Device: c.text()}
		return b
	case 22:
		b := &bodies.fileUnlink
		*b = FileUnlink{Path: c.text(), Dfd: c.s32(), Flags: c.u32(), Ret: c.s32()}
		return b
	}
	return nil
}

// liftContainers reads list<container>: 56 bytes each (the runtime, three
// strings, then option<pod> at 28 with the pod's three strings at 32).
func liftContainers(addr uint32) []Container {
	n := u32At(addr + 4)
	out := make([]Container, n)
	base := u32At(addr)
	for i := range n {
		c := base + 56*i
		out[i] = Container{Runtime: Runtime(u8At(c)), ID: stringAt(c + 4), Name: stringAt(c + 12), Image: stringAt(c + 20)}
		if u8At(c+28) != 0 {
			out[i].Pod = &Pod{Namespace: stringAt(c + 32), Name: stringAt(c + 40), Container: stringAt(c + 48)}
		}
	}
	return out
}
