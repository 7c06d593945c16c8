// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* System calls: syscall.enter streams every entry, with its number, and
 * syscall.count counts them in the kernel.
 *
 * Both are BTF tracepoints (tp_btf): the kernel calls the program with the
 * tracepoint's own arguments (struct pt_regs *regs, long id), without first
 * copying them into a trace record as a classic tracepoint does, and it
 * skips a call only when this same program is already running on the CPU,
 * not whenever any other tracing program is (this hook fires on every
 * system call, so it is the one most often interrupted). */
#include "common.bpf.h"

SEC("tp_btf/sys_enter")
int syscall_enter(unsigned long long *ctx)
{
	if (!task_selected(PROBE_SYSCALL_ENTER))
		return 0;
	struct syscall_enter_event *e = reserve_event(ctx, PROBE_SYSCALL_ENTER, sizeof(*e));
	if (!e)
		return 0;
	e->id = ctx[1];
	submit_event(e);
	return 0;
}

/* syscall.count: the same hook, counted in the kernel instead of streamed,
 * as bpftrace's `@[comm, args.id] = count()` does. A call costs a lookup and
 * an add; only the first call of a (process, syscall, comm) in an interval
 * on a CPU fills a header. The host reads the entries of past generations
 * as records (struct syscall_count_event) and deletes them. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, SYSCALL_COUNT_KEYS);
	/* Allocated as needed: preallocating would cost entries x CPUs x 80 bytes. */
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct syscall_count_key);
	__type(value, struct syscall_count_event);
} syscall_counts SEC(".maps");

/* The generation calls are counted in now; the host moves it on. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} syscall_count_generation SEC(".maps");

SEC("tp_btf/sys_enter")
int syscall_count(unsigned long long *ctx)
{
	if (!task_selected(PROBE_SYSCALL_COUNT))
		return 0;
	__u32 zero = 0;
	__u32 *generation = bpf_map_lookup_elem(&syscall_count_generation, &zero);
	if (!generation)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct syscall_count_key key = {
		.tgid = task->tgid,
		.id = ctx[1],
		.generation = *generation,
	};
	__builtin_memcpy(key.comm, task->comm, sizeof(key.comm));
	struct syscall_count_event *e = bpf_map_lookup_elem(&syscall_counts, &key);
	if (!e) {
		/* A new entry is zero on every CPU; another CPU may have added it
		 * meanwhile (then this fails with EEXIST, and the lookup finds it). */
		struct syscall_count_event fresh = {};
		bpf_map_update_elem(&syscall_counts, &key, &fresh, BPF_NOEXIST);
		e = bpf_map_lookup_elem(&syscall_counts, &key);
		if (!e) {
			/* The map is full: the call is lost, and counted as such. */
			count_drop(PROBE_SYSCALL_COUNT);
			return 0;
		}
	}
	if (!e->count) {
		fill_header(&e->h, PROBE_SYSCALL_COUNT, 0);
		e->id = ctx[1];
	}
	e->count++;
	return 0;
}
