// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* syscall.enter: every system call entry, with its number. */
#include "common.bpf.h"

SEC("tracepoint/raw_syscalls/sys_enter")
int syscall_enter(struct trace_event_raw_sys_enter *ctx)
{
	if (!task_selected(PROBE_SYSCALL_ENTER))
		return 0;
	struct syscall_enter_event *e = reserve_event(PROBE_SYSCALL_ENTER, sizeof(*e));
	if (!e)
		return 0;
	e->id = ctx->id;
	submit_event(e);
	return 0;
}
