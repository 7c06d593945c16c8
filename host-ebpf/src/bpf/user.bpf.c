// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Probes on user-space functions (uprobes): shell.readline on bash's
 * readline() and process.thread on libc's pthread_create(). */
#include "common.bpf.h"

/* shell.readline: the line bash's readline() returns, as bashreadline.bt. */
SEC("uretprobe")
int shell_readline(struct pt_regs *ctx)
{
	if (!task_selected(PROBE_SHELL_READLINE))
		return 0;
	const char *line = (const char *)FUNC_RET(ctx);
	if (!line)
		return 0;
	struct shell_readline_event *e = reserve_event(PROBE_SHELL_READLINE, sizeof(*e));
	if (!e)
		return 0;
	if (bpf_probe_read_user_str(e->line, sizeof(e->line), line) < 0)
		e->line[0] = 0;
	submit_event(e);
	return 0;
}

/* process.thread: pthread_create() was called, with the new thread's
 * function, as threadsnoop.bt. */
SEC("uprobe")
int process_thread(struct pt_regs *ctx)
{
	if (!task_selected(PROBE_PROCESS_THREAD))
		return 0;
	struct process_thread_event *e = reserve_event(PROBE_PROCESS_THREAD, sizeof(*e));
	if (!e)
		return 0;
	e->start_routine = FUNC_ARG3(ctx);
	submit_event(e);
	return 0;
}
