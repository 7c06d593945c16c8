// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The scheduler: sched.runq-latency, each task's wait on a run queue, from
 * the moment it became runnable (woken, created, or switched out while
 * still runnable) to the context switch that runs it, as runqlat measures
 * it, computed here so that one event crosses per run, not three.
 *
 * BTF tracepoints (tp_btf): the switch hook fires on every context switch,
 * and gets the task pointers directly. The filter and the header are those
 * of the task that waited, not of the CPU's current one. */
#include "common.bpf.h"

/* Task state bits (include/linux/sched.h): stable since 4.14, but for
 * RTLOCK_WAIT (5.15) and FROZEN (6.1), which the kernel reports as D. */
#define TASK_UNINTERRUPTIBLE 0x0002
#define TASK_NOLOAD 0x0400
#define TASK_IDLE (TASK_UNINTERRUPTIBLE | TASK_NOLOAD)
#define TASK_WAKING 0x0200
#define TASK_RTLOCK_WAIT 0x1000
#define TASK_FROZEN 0x8000
#define TASK_REPORT 0x007f

/* When a selected task became runnable, and how; by thread id. A task's
 * entry goes when it runs, or when it exits (a task woken while still on
 * its CPU runs on without a switch, and may exit so). An entry is used only
 * by the task that made it (its start time) while it still passes the
 * filter, so a tid reused, a rename or a filter changed since cannot pass
 * another task's run off as selected. A full map loses the wait, counted as
 * a drop of the probe. */
struct queued {
	__u64 since_ns;
	__u64 start_time; /* the task's: a tid is reused */
	__u32 reason;     /* enum wit_queue_reason */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct queued);
} queued SEC(".maps");

static __always_inline void enqueue(struct task_struct *task, __u32 reason, __u64 now)
{
	/* Not the idle task: it runs when nothing else does, and waits for nothing. */
	if (!task->pid || !selected(PROBE_SCHED_RUNQ_LATENCY, task))
		return;
	__u32 tid = task->pid;
	struct queued q = { .since_ns = now, .start_time = task->start_time, .reason = reason };
	if (bpf_map_update_elem(&queued, &tid, &q, BPF_ANY))
		count_drop(PROBE_SCHED_RUNQ_LATENCY);
}

SEC("tp_btf/sched_process_exit")
int sched_exit(unsigned long long *ctx)
{
	__u32 tid = ((struct task_struct *)ctx[0])->pid;
	bpf_map_delete_elem(&queued, &tid);
	return 0;
}

SEC("tp_btf/sched_wakeup")
int sched_wakeup(unsigned long long *ctx)
{
	enqueue((struct task_struct *)ctx[0], WIT_QUEUE_REASON_WAKEUP, bpf_ktime_get_boot_ns());
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int sched_wakeup_new(unsigned long long *ctx)
{
	enqueue((struct task_struct *)ctx[0], WIT_QUEUE_REASON_NEW_TASK, bpf_ktime_get_boot_ns());
	return 0;
}

/* Before 5.14 the field was `state`. */
struct task_struct___o {
	long state;
} __attribute__((preserve_access_index));

/* The state a task left the CPU in, as sched_switch's prev_state reports it
 * (`ps`'s letters, the kernel's task_state_index): the highest bit of its
 * reported state, I for an idle kernel thread, D for a frozen one. */
static __always_inline __u32 left_in(struct task_struct *task)
{
	unsigned int state;
	if (bpf_core_field_exists(task->__state))
		state = BPF_CORE_READ(task, __state);
	else
		state = BPF_CORE_READ((struct task_struct___o *)task, state);
	if ((state & TASK_IDLE) == TASK_IDLE)
		return WIT_TASK_STATE_IDLE;
	if (state & (TASK_RTLOCK_WAIT | TASK_FROZEN))
		return WIT_TASK_STATE_DISK_SLEEP;
	/* Being woken as it leaves (sched_switch read its state before): it
	 * slept, and its wakeup, not this switch, queues it. */
	if (state == TASK_WAKING)
		return WIT_TASK_STATE_SLEEPING;
	state = (state | task->exit_state) & TASK_REPORT;
	/* fls: S is bit 0, D 1, T 2, t 3, X 4, Z 5, P 6. */
	__u32 index = state ? 32 - __builtin_clz(state) : 0;
	return index <= WIT_TASK_STATE_PARKED ? index : WIT_TASK_STATE_RUNNING;
}

/* sched_switch(preempt, prev, next): prev leaves the CPU, next gets it. */
SEC("tp_btf/sched_switch")
int sched_switch(unsigned long long *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx[1];
	struct task_struct *next = (struct task_struct *)ctx[2];
	__u64 now = bpf_ktime_get_boot_ns();
	/* Still runnable (preempted, or it yielded): it waits on the queue again.
	 * A task preempted as it was about to sleep is still runnable: the
	 * preempt flag (a bool: its low byte) says so, as sched_switch's R+. */
	__u32 prev_state = (__u8)ctx[0] ? WIT_TASK_STATE_RUNNING : left_in(prev);
	if (prev_state == WIT_TASK_STATE_RUNNING)
		enqueue(prev, WIT_QUEUE_REASON_PREEMPTED, now);
	__u32 tid = next->pid;
	struct queued *q = bpf_map_lookup_elem(&queued, &tid);
	if (!q)
		return 0;
	__u64 since = q->since_ns;
	__u32 reason = q->reason;
	int same_task = q->start_time == next->start_time;
	bpf_map_delete_elem(&queued, &tid);
	if (!same_task || !selected(PROBE_SCHED_RUNQ_LATENCY, next))
		return 0;
	struct sched_runq_latency_event *e = reserve_event_of(PROBE_SCHED_RUNQ_LATENCY, sizeof(*e), next);
	if (!e)
		return 0;
	e->h.ts_boot_ns = now;
	e->latency_ns = now > since ? now - since : 0;
	e->queued_by = reason;
	e->prev_state = prev_state;
	e->_pad = 0;
	/* wasmtrace's own work is left out, as the one the CPU ran before too. */
	__u32 probe = PROBE_SCHED_RUNQ_LATENCY;
	struct filter *f = bpf_map_lookup_elem(&filters, &probe);
	if (f && prev->tgid == f->exclude_tgid) {
		e->prev_tid = 0;
		__builtin_memset(e->prev_comm, 0, sizeof(e->prev_comm));
	} else {
		e->prev_tid = prev->pid;
		__builtin_memcpy(e->prev_comm, prev->comm, sizeof(e->prev_comm));
	}
	submit_event(e);
	return 0;
}
