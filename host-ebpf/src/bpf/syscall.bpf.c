// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* syscall.enter: every system call entry, with its number.
 *
 * A BTF tracepoint (tp_btf): the kernel calls the program with the
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
	struct syscall_enter_event *e = reserve_event(PROBE_SYSCALL_ENTER, sizeof(*e));
	if (!e)
		return 0;
	e->id = ctx[1];
	submit_event(e);
	return 0;
}
