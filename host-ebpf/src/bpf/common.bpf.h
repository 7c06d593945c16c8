/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What every probe family shares: its ring buffer, per-probe drop counters,
 * per-probe filters, and the common event header. Each family's object gets
 * its own copy of these maps; the host finds them by name.
 */
#ifndef WASMTRACE_COMMON_BPF_H
#define WASMTRACE_COMMON_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kernel.h"
#include "events.h"

char LICENSE[] SEC("license") = "GPL";

/* The host sizes this at load time (`[limits] ring_buffer_mib`). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, PROBE_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_COUNT);
	__type(key, __u32);
	__type(value, struct filter);
} filters SEC(".maps");

static __always_inline int comm_eq(const char *a, const char *b)
{
	return *(const __u64 *)a == *(const __u64 *)b &&
	       *(const __u64 *)(a + 8) == *(const __u64 *)(b + 8);
}

/* True when the list is empty (no filter) or holds the value. */
static __always_inline int listed(const __u32 *list, __u32 n, __u32 value)
{
	if (!n)
		return 1;
	for (int i = 0; i < FILTER_MAX; i++)
		if (i < n && list[i] == value)
			return 1;
	return 0;
}

/* The id of the task's cgroup `level` levels below the root (as
 * bpf_get_current_ancestor_cgroup_id, for another task), or 0. */
static __always_inline __u64 task_ancestor_cgroup_id(struct task_struct *task, int level)
{
	struct cgroup *cgrp = task->cgroups->dfl_cgrp;
	if (level < 0 || level > cgrp->level)
		return 0;
	if (bpf_core_field_exists(cgrp->ancestors)) {
		struct cgroup *ancestor = 0;
		bpf_probe_read_kernel(&ancestor, sizeof(ancestor), &cgrp->ancestors[level]);
		return ancestor ? BPF_CORE_READ(ancestor, kn, id) : 0;
	}
	struct cgroup___ids *ids = (void *)cgrp;
	__u64 id = 0;
	bpf_probe_read_kernel(&id, sizeof(id), &ids->ancestor_ids[level]);
	return id;
}

/* The filters and the header read a task: the current one through helpers
 * (cheapest), or another (`task`, e.g. the one a context switch runs next)
 * through its task_struct. Callers pass a constant 0 for the current task,
 * so that the other branch compiles away. */

/* True when the task runs where the filter's scope says: by pid namespace
 * (a container has its own) or by cgroup (a named container's). */
static __always_inline int scope_selected(const struct filter *f, struct task_struct *task)
{
	if (f->scope == SCOPE_CGROUPS) {
		/* A container's processes may be in cgroups it made below its own. */
		for (int i = 0; i < CGROUPS_MAX; i++)
			if (i < f->n_cgroups && f->cgroups[i] == (task ? task_ancestor_cgroup_id(task, f->cgroup_levels[i])
								       : bpf_get_current_ancestor_cgroup_id(f->cgroup_levels[i])))
				return 1;
		return 0;
	}
	int nested = (task ?: bpf_get_current_task_btf())->thread_pid->level > 0;
	return f->scope == SCOPE_CONTAINERS ? nested : !nested;
}

/* True when the task passes the probe's filter. */
static __always_inline int selected(__u32 probe, struct task_struct *task)
{
	struct filter *f = bpf_map_lookup_elem(&filters, &probe);
	if (!f || !f->enabled)
		return 0;
	__u32 tgid = task ? task->tgid : bpf_get_current_pid_tgid() >> 32;
	if (tgid == f->exclude_tgid)
		return 0;
	if (!listed(f->pids, f->n_pids, tgid))
		return 0;
	/* Only asked for when filtered on: the helper is most of the filter's cost. */
	if (f->n_uids && !listed(f->uids, f->n_uids, task ? task->cred->uid.val : (__u32)bpf_get_current_uid_gid()))
		return 0;
	if (f->n_comms) {
		char comm[COMM_LEN] __attribute__((aligned(8))) = {};
		if (task)
			__builtin_memcpy(comm, task->comm, sizeof(comm));
		else
			bpf_get_current_comm(comm, sizeof(comm));
		int hit = 0;
		for (int i = 0; i < FILTER_MAX; i++)
			if (i < f->n_comms && comm_eq(comm, f->comms[i]))
				hit = 1;
		if (!hit)
			return 0;
	}
	if (f->scope != SCOPE_ANY && !scope_selected(f, task))
		return 0;
	return 1;
}

/* True when the current task passes the probe's filter. */
static __always_inline int task_selected(__u32 probe)
{
	return selected(probe, 0);
}

static __always_inline void count_drop(__u32 probe)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &probe);
	if (n)
		*n += 1;
}

/* The task's header for an event of `probe`, stamped now. The task pointer
 * is one the verifier trusts, so its fields are plain loads: the parent's
 * pid and the comm cost ~2 ns instead of a helper call each. */
static __always_inline void fill_header(struct event_header *h, __u32 probe, struct task_struct *task)
{
	struct task_struct *t = task ?: bpf_get_current_task_btf();
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->probe = probe;
	h->cpu = bpf_get_smp_processor_id();
	if (task) {
		h->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
		h->pid = task->tgid;
		h->tid = task->pid;
		h->uid = task->cred->uid.val;
		h->gid = task->cred->gid.val;
	} else {
		__u64 pid_tgid = bpf_get_current_pid_tgid();
		__u64 uid_gid = bpf_get_current_uid_gid();
		h->cgroup_id = bpf_get_current_cgroup_id();
		h->pid = pid_tgid >> 32;
		h->tid = (__u32)pid_tgid;
		h->uid = (__u32)uid_gid;
		h->gid = uid_gid >> 32;
	}
	h->ppid = t->real_parent->tgid;
	h->stacks = 0;
	__builtin_memcpy(h->comm, t->comm, sizeof(h->comm));
}

/* Reserves a record in the ring buffer and fills its header, of `task` (0:
 * the current one); counts a drop when the buffer is full. */
static __always_inline void *reserve_event_of(__u32 probe, __u64 size, struct task_struct *task)
{
	struct event_header *h = bpf_ringbuf_reserve(&events, size, 0);
	if (!h) {
		count_drop(probe);
		return 0;
	}
	fill_header(h, probe, task);
	return h;
}

/* Fills the trailer after a record of `size` bytes with the stacks `kinds`
 * asks for. bpf_get_stack zeroes what the frames leave of each array, so no
 * stale ring bytes follow them. */
static __always_inline void fill_stacks(void *ctx, struct event_header *h, __u64 size, __u32 kinds)
{
	struct stack_trailer *s = (void *)h + size;
	long n = 0;
	if (kinds & STACK_KERNEL)
		n = bpf_get_stack(ctx, s->kernel, sizeof(s->kernel), 0);
	s->kernel_bytes = n > 0 ? n : 0;
	if (!(kinds & STACK_KERNEL))
		__builtin_memset(s->kernel, 0, sizeof(s->kernel));
	n = 0;
	if (kinds & STACK_USER)
		n = bpf_get_stack(ctx, s->user, sizeof(s->user), BPF_F_USER_STACK);
	s->user_bytes = n > 0 ? n : 0;
	if (!(kinds & STACK_USER))
		__builtin_memset(s->user, 0, sizeof(s->user));
	h->stacks = 1;
}

/* A record of the current task (`ctx`: the program's context, which the
 * stacks are read from), with the stacks its probe's filter asks for. */
static __always_inline void *reserve_event(void *ctx, __u32 probe, __u64 size)
{
	struct filter *f = bpf_map_lookup_elem(&filters, &probe);
	__u32 kinds = f ? f->stacks : 0;
	if (!kinds)
		return reserve_event_of(probe, size, 0);
	struct event_header *h = reserve_event_of(probe, size + sizeof(struct stack_trailer), 0);
	if (h)
		fill_stacks(ctx, h, size, kinds);
	return h;
}

/* The user registers saved at syscall entry: at a syscall's exit they still
 * hold its arguments (SYSCALL_ARGn in kernel.h), so one exit hook suffices. */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* The file behind one of the current task's file descriptors, or 0. The fd
 * is whatever the process passed to the syscall: past the table's end,
 * fds[fd] is other kernel memory, which would be read as a file and leak
 * into the event. */
static __always_inline struct file *fd_file(long fd)
{
	struct fdtable *fdt = bpf_get_current_task_btf()->files->fdt;
	if (fd < 0 || fd >= fdt->max_fds)
		return 0;
	struct file **fds = fdt->fd;
	struct file *file = 0;
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]))
		return 0;
	return file;
}

/* Adaptive wake-up: the kernel wakes the host only when it had caught up
 * with the ring (so an idle host sleeps on epoll); while the host is behind,
 * and it waits a moment after each wake-up, storms cost no wake-ups. */
static __always_inline void submit_event(void *e)
{
	bpf_ringbuf_submit(e, 0);
}

#endif
