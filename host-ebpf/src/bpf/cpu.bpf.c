// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* cpu.sample: every CPU sampled at a frequency (a software cpu-clock perf
 * event per CPU, which needs no hardware counters, so it works in VMs), as
 * bpftrace's profile:hz: the task each sample interrupted, whether it ran
 * user or kernel code, and how many tasks were runnable on that CPU. */
#include "common.bpf.h"

/* The context of a perf-event program: the interrupted registers, as the
 * UAPI lays them out (bpf_user_pt_regs_t), read at fixed offsets. */
#if defined(__TARGET_ARCH_x86)
#define SAMPLE_REGS 21
#define USER_MODE(regs) (((regs)[17] & 3) == 3) /* cs: the privilege level */
#elif defined(__TARGET_ARCH_arm64)
#define SAMPLE_REGS 34
#define USER_MODE(regs) (((regs)[33] & 0xf) == 0) /* pstate: EL0t */
#endif

struct perf_sample_ctx {
	__u64 regs[SAMPLE_REGS];
	__u64 sample_period;
	__u64 addr;
};

/* The CPU's runnable tasks (its rq's nr_running), reached through the
 * task's CFS queue, which tasks have with group scheduling (distro kernels
 * do); without it, 0: unknown. Before 6.14 a CFS queue counted in
 * `nr_running`, since in `nr_queued`. */
static __always_inline __u32 runnable(struct task_struct *task)
{
	struct task_struct___se *t = (void *)task;
	if (!bpf_core_field_exists(t->se.cfs_rq))
		return 0;
	struct cfs_rq *q = t->se.cfs_rq;
	if (bpf_core_field_exists(q->rq))
		return q->rq->nr_running;
	if (bpf_core_field_exists(q->nr_queued))
		return q->nr_queued;
	return ((struct cfs_rq___o *)q)->nr_running;
}

SEC("perf_event")
int cpu_sample(struct perf_sample_ctx *ctx)
{
	if (!task_selected(PROBE_CPU_SAMPLE))
		return 0;
	struct cpu_sample_event *e = reserve_event(ctx, PROBE_CPU_SAMPLE, sizeof(*e));
	if (!e)
		return 0;
	e->user = USER_MODE(ctx->regs);
	e->runnable = runnable(bpf_get_current_task_btf());
	submit_event(e);
	return 0;
}
