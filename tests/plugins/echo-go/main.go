// Echoes every event as a finding whose rule is the probe's name and whose
// fields are all of the event's fields, exactly as the Rust echo plugin
// does: a test compares the two, so every event variant is checked through
// the Go SDK's hand-written ABI glue. With a `panic` config key, it panics
// in init with that message instead. With `extras = true`, it also uses
// every other part of the SDK once per event: a row with the host's names
// for `syscall` (a number), errno 2 and uid 0, a counter, a histogram and
// a gauge per probe, and a log line per tick.
package main

import (
	"fmt"
	"strings"

	wt "wasmtrace.dev/sdk"
)

var probes = []string{
	"process.exec", "process.exit", "file.open", "syscall.enter", "signal.kill", "process.sleep",
	"file.sync", "file.stat", "security.setuid", "process.fork", "security.capable", "memory.oom-kill",
	"net.tcp.connect", "net.tcp.life", "net.tcp.retransmit", "net.tcp.accept", "net.tcp.drop",
	"shell.readline", "process.thread", "net.tcp.syn-backlog", "file.latency", "memory.swapin", "file.unlink",
	"syscall.count",
}

type echo struct {
	extras *extras
}

type extras struct {
	syscall uint32
	events  *wt.Counter
	pids    *wt.Log2Histogram
	lastPid *wt.Gauge
	seen    int
}

func init() {
	wt.Register(probes, func(c wt.Config) (wt.Plugin, error) {
		if message, _ := c.Text("panic", ""); message != "" {
			panic(message)
		}
		on, err := c.Boolean("extras", false)
		if err != nil || !on {
			return echo{}, err
		}
		syscall, err := c.Integer("syscall", 0)
		wt.SetColumns("PROBE", "PID", "SYSCALL", "ERRNO", "USER")
		return echo{&extras{
			syscall: uint32(syscall),
			events:  wt.NewCounter("events", "probe"),
			pids:    wt.NewLog2Histogram("pids", "probe"),
			lastPid: wt.NewGauge("last_pid", "probe"),
		}}, err
	})
}

func (x *extras) onEvent(e *wt.Event) {
	probe, pid := e.Body.Probe(), e.Header.Pid
	syscall, _ := wt.SyscallName(x.syscall)
	errno, _ := wt.ErrnoName(2)
	user, _ := wt.UserName(0)
	wt.EmitRow(probe, pid, syscall, errno, user)
	x.events.Add(1, probe)
	x.pids.Record(uint64(pid), probe)
	x.lastPid.Set(int64(pid), probe)
	x.seen++
}

func (ec echo) OnTick() {
	if ec.extras != nil {
		wt.Logf(wt.LevelInfo, "echo_go: %d events so far", ec.extras.seen)
	}
}

func (ec echo) OnEvent(e *wt.Event) {
	if ec.extras != nil {
		ec.extras.onEvent(e)
	}
	h := &e.Header
	f := wt.NewFinding(wt.Info, e.Body.Probe(), h.Comm).
		Field("pid", h.Pid).
		Field("tid", h.Tid).
		Field("ppid", h.Ppid).
		Field("uid", h.UID).
		Field("gid", h.GID).
		Field("cpu", h.CPU).
		Field("cgroup_id", h.CgroupID).
		Field("timestamp_ns", h.TimestampNs).
		Field("container", container(h.Container))
	switch b := e.Body.(type) {
	case *wt.ProcessExec:
		f.Field("caller_comm", e.Text(b.CallerComm)).
			Field("filename", e.Text(b.Filename)).
			Field("argv", strings.Join(e.Texts(b.Argv), "\x1f")).
			Field("argv_truncated", b.ArgvTruncated).
			Field("ret", b.Ret)
	case *wt.ProcessExit:
		f.Field("exit_code", b.ExitCode).
			Field("signal", b.Signal).
			Field("core_dumped", b.CoreDumped).
			Field("lifetime_ns", b.LifetimeNs)
	case *wt.FileOpen:
		f.Field("path", e.Text(b.Path)).
			Field("flags", b.Flags).
			Field("mode", b.Mode).
			Field("dfd", b.Dfd).
			Field("ret", b.Ret)
	case *wt.SyscallEnter:
		f.Field("id", b.ID)
	case *wt.SyscallCount:
		f.Field("id", b.ID).Field("count", b.Count)
	case *wt.SchedRunqLatency:
		f.Field("latency_ns", b.LatencyNs).
			Field("queued_by", b.QueuedBy).
			Field("prev_tid", b.PrevTid).
			Field("prev_comm", e.Text(b.PrevComm)).
			Field("prev_state", b.PrevState)
	case *wt.BlockIo:
		f.Field("disk", e.Text(b.Disk)).
			Field("major", b.Major).
			Field("minor", b.Minor).
			Field("op", b.Op).
			Field("sync", b.Sync).
			Field("meta", b.Meta).
			Field("fua", b.Fua).
			Field("preflush", b.Preflush).
			Field("readahead", b.Readahead).
			Field("sector", b.Sector).
			Field("bytes", b.Bytes).
			Field("queued_ns", b.QueuedNs).
			Field("service_ns", b.ServiceNs).
			Field("error", b.Error)
	case *wt.BlockWriteback:
		f.Field("device", e.Text(b.Device)).
			Field("sb_major", b.SbMajor).
			Field("sb_minor", b.SbMinor).
			Field("pages", b.Pages).
			Field("latency_ns", b.LatencyNs).
			Field("reason", b.Reason).
			Field("sync_all", b.SyncAll).
			Field("background", b.Background)
	case *wt.NetDns:
		f.Field("host", e.Text(b.Host)).
			Field("call", b.Call).
			Field("latency_ns", b.LatencyNs).
			Field("error", b.Error)
	case *wt.CPUSample:
		f.Field("user", b.User).
			Field("runnable", b.Runnable)
	case *wt.NetTls:
		f.Field("call", b.Call).
			Field("latency_ns", b.LatencyNs).
			Field("bytes", b.Bytes).
			Field("requested", b.Requested).
			Field("ret", b.Ret)
	case *wt.SignalKill:
		f.Field("call", b.Call).
			Field("target", b.Target).
			Field("signal", b.Signal).
			Field("ret", b.Ret)
	case *wt.ProcessSleep:
		f.Field("duration_ns", b.DurationNs).
			Field("clock", b.Clock).
			Field("absolute", b.Absolute).
			Field("parent_comm", e.Text(b.ParentComm))
	case *wt.FileSync:
		f.Field("call", b.Call).Field("fd", b.Fd)
	case *wt.FileStat:
		f.Field("call", b.Call).Field("path", e.Text(b.Path)).Field("ret", b.Ret)
	case *wt.SecuritySetuid:
		f.Field("call", b.Call).
			Field("caller_uid", b.CallerUID).
			Field("uid", b.UID).
			Field("euid", b.EUID).
			Field("suid", b.SUID).
			Field("ret", b.Ret)
	case *wt.ProcessFork:
		f.Field("child_pid", b.ChildPid)
	case *wt.SecurityCapable:
		f.Field("cap", b.Cap).Field("ret", b.Ret)
	case *wt.MemoryOomKill:
		f.Field("victim_pid", b.VictimPid).
			Field("victim_comm", e.Text(b.VictimComm)).
			Field("victim_uid", b.VictimUID).
			Field("total_vm_kb", b.TotalVMKb).
			Field("anon_rss_kb", b.AnonRssKb).
			Field("file_rss_kb", b.FileRssKb).
			Field("shmem_rss_kb", b.ShmemRssKb).
			Field("oom_score_adj", b.OomScoreAdj)
	case *wt.NetTCPConnect:
		ends(f, e, &b.Ends).Field("established", b.Established).Field("latency_ns", b.LatencyNs)
	case *wt.NetTCPLife:
		ends(f, e, &b.Ends).Field("duration_ns", b.DurationNs).Field("rx_bytes", b.RxBytes).Field("tx_bytes", b.TxBytes)
	case *wt.NetTCPRetransmit:
		ends(f, e, &b.Ends).Field("state", b.State)
	case *wt.NetTCPDrop:
		ends(f, e, &b.Ends).Field("tcp_flags", b.TCPFlags).Field("reason", b.Reason)
	case *wt.NetTCPSynBacklog:
		ends(f, e, &b.Ends).Field("backlog", b.Backlog).Field("max_backlog", b.MaxBacklog)
	case *wt.FileLatency:
		f.Field("op", b.Op).
			Field("fs_type", e.Text(b.FsType)).
			Field("latency_ns", b.LatencyNs).
			Field("fd", b.Fd).
			Field("ret", b.Ret)
	case *wt.MemorySwapin:
		f.Field("pages", b.Pages).Field("device", e.Text(b.Device))
	case *wt.FileUnlink:
		f.Field("path", e.Text(b.Path)).Field("dfd", b.Dfd).Field("flags", b.Flags).Field("ret", b.Ret)
	case *wt.ShellReadline:
		f.Field("line", e.Text(b.Line))
	case *wt.ProcessThread:
		f.Field("start_routine", b.StartRoutine)
	case *wt.NetTCPAccept:
		ends(f, e, &b.Ends).Field("backlog", b.Backlog).Field("max_backlog", b.MaxBacklog)
	}
	f.Emit()
}

// container is the container as one field: `runtime id name image
// namespace/pod/container`, `-` for the host.
func container(c *wt.Container) string {
	if c == nil {
		return "-"
	}
	pod := "-"
	if c.Pod != nil {
		pod = c.Pod.Namespace + "/" + c.Pod.Name + "/" + c.Pod.Container
	}
	return fmt.Sprintf("%s %s %s %s %s", c.Runtime, c.ID, c.Name, c.Image, pod)
}

func ends(f *wt.Finding, e *wt.Event, ends *wt.TCPEnds) *wt.Finding {
	return f.Field("family", ends.Family).
		Field("saddr", e.Text(ends.Saddr)).
		Field("sport", ends.Sport).
		Field("daddr", e.Text(ends.Daddr)).
		Field("dport", ends.Dport)
}

func main() {}
