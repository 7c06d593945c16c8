// secretwatch flags a process that opens a credential file (/etc/shadow, a
// file under ~/.ssh, ...) and is not one of the programs whose job that is,
// with the chain of programs that led to it (Falco's "read sensitive file
// untrusted"). It learns the chain from process.exec, and forgets a process
// some seconds after its process.exit: each probe's events come in batches
// of their own, so a child's last opens may arrive after its parent's exit.
package main

import (
	"fmt"
	"path"
	"strings"

	wt "wasmtrace.dev/sdk"
)

// Programs that read credentials for a living.
var defaultAllow = []string{
	"sshd", "sshd-session", "ssh", "ssh-agent", "ssh-keygen", "login", "su", "sudo", "passwd",
	"chpasswd", "unix_chkpwd", "useradd", "usermod", "userdel", "groupadd", "chage", "systemd",
	"systemd-logind", "cron", "polkitd", "accounts-daemon", "sssd", "nscd",
}

// Credential files: a path ending in `/` covers the folder's files, and `*`
// stands for one path element, as in path.Match.
var defaultPaths = []string{
	"/etc/shadow", "/etc/gshadow", "/etc/shadow-", "/etc/gshadow-", "/etc/sudoers", "/etc/sudoers.d/",
	"/root/.ssh/", "/home/*/.ssh/", "/etc/ssh/ssh_host_*_key",
}

// Processes remembered at most: a fork bomb does not grow the plugin.
const maxProcesses = 16384

// Links of a chain shown at most.
const maxChain = 8

// How long an exited process is remembered, in event time.
const forgetAfterNs = 10_000_000_000

type process struct {
	comm string
	ppid uint32
	// When it exited, or 0.
	exitedNs uint64
}

type secretwatch struct {
	paths     []string
	allow     map[string]bool
	processes map[uint32]process
	opens     *wt.Counter
	// The latest event time seen.
	nowNs uint64
}

func init() {
	wt.Register([]string{"process.exec", "process.exit", "file.open"}, start)
}

func start(c wt.Config) (wt.Plugin, error) {
	paths, err := c.Texts("paths", defaultPaths)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		if _, err := path.Match(p, ""); err != nil || !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("config key `paths`: %q is not an absolute path pattern", p)
		}
	}
	allow, err := c.Texts("allow", defaultAllow)
	if err != nil {
		return nil, err
	}
	s := &secretwatch{
		paths:     paths,
		allow:     map[string]bool{},
		processes: map[uint32]process{},
		opens:     wt.NewCounter("secret_opens", "comm", "path"),
	}
	for _, comm := range allow {
		s.allow[comm] = true
	}
	return s, nil
}

func (s *secretwatch) OnEvent(e *wt.Event) {
	h := &e.Header
	s.nowNs = max(s.nowNs, h.TimestampNs)
	switch b := e.Body.(type) {
	case *wt.ProcessExec:
		if b.Ret == 0 {
			s.remember(h.Pid, process{comm: strings.Clone(h.Comm), ppid: h.Ppid})
		}
	case *wt.ProcessExit:
		if p, known := s.processes[h.Pid]; known {
			p.exitedNs = h.TimestampNs
			s.processes[h.Pid] = p
		}
	case *wt.FileOpen:
		p := e.Text(b.Path)
		if b.Ret < 0 || s.allow[h.Comm] || !s.sensitive(p) {
			return
		}
		s.opens.Add(1, h.Comm, p)
		user, _ := wt.UserName(h.UID)
		wt.NewFinding(wt.High, "read-sensitive-file", fmt.Sprintf("%s opened %s", h.Comm, p)).
			Field("path", p).
			Field("comm", h.Comm).
			Field("pid", h.Pid).
			Field("uid", h.UID).
			Field("user", user).
			Field("chain", s.chain(h.Pid, h.Comm, h.Ppid)).
			Field("container", h.ContainerName()).
			Emit()
	}
}

func (s *secretwatch) OnTick() {
	for pid, p := range s.processes {
		if p.exitedNs != 0 && s.nowNs-p.exitedNs > forgetAfterNs {
			delete(s.processes, pid)
		}
	}
}

func (s *secretwatch) remember(pid uint32, p process) {
	if _, known := s.processes[pid]; !known && len(s.processes) >= maxProcesses {
		// Forget any one: Go's map order is random.
		for old := range s.processes {
			delete(s.processes, old)
			break
		}
	}
	s.processes[pid] = p
}

// sensitive reports whether an absolute path matches one of the patterns.
// A relative path (to some directory fd) is not checked.
func (s *secretwatch) sensitive(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	p = path.Clean(p)
	for _, pattern := range s.paths {
		if dir, isDir := strings.CutSuffix(pattern, "/"); isDir {
			if parent, _ := path.Split(p); len(parent) > 1 && matches(dir, parent[:len(parent)-1]) {
				return true
			}
			continue
		}
		if matches(pattern, p) {
			return true
		}
	}
	return false
}

func matches(pattern, p string) bool {
	ok, _ := path.Match(pattern, p)
	return ok
}

// chain is the process and its ancestors as far as they are known:
// `cat(4242) < sh(4241) < nginx(977)`; an ancestor that started before
// wasmtrace shows as its pid.
func (s *secretwatch) chain(pid uint32, comm string, ppid uint32) string {
	links := []string{fmt.Sprintf("%s(%d)", comm, pid)}
	for len(links) < maxChain && ppid > 1 {
		parent, known := s.processes[ppid]
		if !known {
			links = append(links, fmt.Sprintf("(%d)", ppid))
			break
		}
		links = append(links, fmt.Sprintf("%s(%d)", parent.comm, ppid))
		ppid = parent.ppid
	}
	return strings.Join(links, " < ")
}

func main() {}
