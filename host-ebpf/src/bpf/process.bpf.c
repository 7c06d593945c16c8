// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* process.exec, process.exit, process.sleep, process.fork, signal.kill,
 * security.setuid, security.capable, memory.oom-kill and memory.swapin. */
#include "common.bpf.h"

#define ARG_CHUNK 128
#define ARGV_LAST (ARGV_LEN - ARG_CHUNK)

/* execve's arguments are read at entry, before the new image replaces them,
 * and sent at exit, when the return code and the new comm are known. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct process_exec_event);
} pending_exec SEC(".maps");

/* A process_exec_event is too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct process_exec_event);
} scratch SEC(".maps");

static __always_inline int exec_enter(const char *filename, const char *const *argv)
{
	__u32 zero = 0;
	struct process_exec_event *e = bpf_map_lookup_elem(&scratch, &zero);
	if (!e)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	e->ret = 0;
	e->argc = 0;
	e->argv_len = 0;
	e->truncated = 0;
	bpf_get_current_comm(e->caller_comm, sizeof(e->caller_comm));
	bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename);
	for (int i = 0; i < ARGV_MAX; i++) {
		const char *arg = 0;
		if (bpf_probe_read_user(&arg, sizeof(arg), &argv[i]) || !arg)
			goto done;
		if (e->argv_len > ARGV_LAST) {
			e->truncated = 1;
			goto done;
		}
		long n = bpf_probe_read_user_str(&e->argv[e->argv_len], ARG_CHUNK, arg);
		if (n <= 0)
			goto done;
		e->argc++;
		e->argv_len += n;
	}
	{
		const char *more = 0;
		bpf_probe_read_user(&more, sizeof(more), &argv[ARGV_MAX]);
		e->truncated = more != 0;
	}
done:
	bpf_map_update_elem(&pending_exec, &tid, e, BPF_ANY);
	return 0;
}

/* Filters apply here, after exec, so that `comm` names the new program. */
static __always_inline int exec_exit(void *ctx, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct process_exec_event *pending = bpf_map_lookup_elem(&pending_exec, &tid);
	if (!pending)
		return 0;
	if (task_selected(PROBE_PROCESS_EXEC)) {
		struct process_exec_event *e = reserve_event(ctx, PROBE_PROCESS_EXEC, sizeof(*e));
		if (e) {
			bpf_probe_read_kernel((char *)e + sizeof(e->h), sizeof(*e) - sizeof(e->h),
					      (char *)pending + sizeof(e->h));
			e->ret = ret;
			submit_event(e);
		}
	}
	bpf_map_delete_elem(&pending_exec, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int process_exec_enter(struct syscall_enter_ctx *ctx)
{
	return exec_enter((const char *)ctx->args[0], (const char *const *)ctx->args[1]);
}

SEC("tracepoint/syscalls/sys_exit_execve")
int process_exec_exit(struct syscall_exit_ctx *ctx)
{
	return exec_exit(ctx, ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_execveat")
int process_execat_enter(struct syscall_enter_ctx *ctx)
{
	return exec_enter((const char *)ctx->args[1], (const char *const *)ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_execveat")
int process_execat_exit(struct syscall_exit_ctx *ctx)
{
	return exec_exit(ctx, ctx->ret);
}

/* Reports a process once, when its thread-group leader exits. */
SEC("tracepoint/sched/sched_process_exit")
int process_exit(void *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if ((__u32)pid_tgid != pid_tgid >> 32)
		return 0;
	if (!task_selected(PROBE_PROCESS_EXIT))
		return 0;
	struct process_exit_event *e = reserve_event(ctx, PROBE_PROCESS_EXIT, sizeof(*e));
	if (!e)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	e->lifetime_ns = bpf_ktime_get_ns() - task->start_time;
	e->exit_code = task->exit_code;
	e->_pad = 0;
	submit_event(e);
	return 0;
}

/* signal.kill: at exit, with the arguments from the registers saved at entry
 * (as file.open does), so that one hook gives the call and its result. */
static __always_inline int kill_exit(void *ctx, __u32 call, __s32 target, __u32 signal, long ret)
{
	if (!task_selected(PROBE_SIGNAL_KILL))
		return 0;
	struct signal_kill_event *e = reserve_event(ctx, PROBE_SIGNAL_KILL, sizeof(*e));
	if (!e)
		return 0;
	e->call = call;
	e->target = target;
	e->signal = signal;
	e->ret = ret;
	submit_event(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_kill")
int signal_kill_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return kill_exit(ctx, WIT_KILL_CALL_KILL, SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_tkill")
int signal_tkill_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return kill_exit(ctx, WIT_KILL_CALL_TKILL, SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_tgkill")
int signal_tgkill_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return kill_exit(ctx, WIT_KILL_CALL_TGKILL, SYSCALL_ARG2(regs), SYSCALL_ARG3(regs), ctx->ret);
}

/* process.sleep: at entry, with the requested time, like naptime.bt. */
static __always_inline int sleep_enter(void *ctx, __u32 clock, __u32 flags, const struct timespec64_user *req)
{
	if (!task_selected(PROBE_PROCESS_SLEEP))
		return 0;
	struct timespec64_user ts = {};
	if (bpf_probe_read_user(&ts, sizeof(ts), req))
		return 0;
	struct process_sleep_event *e = reserve_event(ctx, PROBE_PROCESS_SLEEP, sizeof(*e));
	if (!e)
		return 0;
	e->duration_ns = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	e->clock = clock;
	e->flags = flags;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BPF_CORE_READ_STR_INTO(&e->parent_comm, task, real_parent, comm);
	submit_event(e);
	return 0;
}

#define CLOCK_MONOTONIC 1

SEC("tracepoint/syscalls/sys_enter_nanosleep")
int process_nanosleep_enter(struct syscall_enter_ctx *ctx)
{
	return sleep_enter(ctx, CLOCK_MONOTONIC, 0, (const struct timespec64_user *)ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_clock_nanosleep")
int process_clock_nanosleep_enter(struct syscall_enter_ctx *ctx)
{
	return sleep_enter(ctx, ctx->args[0], ctx->args[1], (const struct timespec64_user *)ctx->args[2]);
}

/* security.setuid: the caller's uid is taken at entry (at exit it may be the
 * new one); the arguments and result at exit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} setuid_caller SEC(".maps");

static __always_inline int setuid_enter(void)
{
	if (!task_selected(PROBE_SECURITY_SETUID))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 uid = (__u32)bpf_get_current_uid_gid();
	bpf_map_update_elem(&setuid_caller, &tid, &uid, BPF_ANY);
	return 0;
}

static __always_inline int setuid_exit(void *ctx, __u32 call, __s32 uid, __s32 euid, __s32 suid, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u32 *caller = bpf_map_lookup_elem(&setuid_caller, &tid);
	if (!caller)
		return 0;
	struct security_setuid_event *e = reserve_event(ctx, PROBE_SECURITY_SETUID, sizeof(*e));
	if (e) {
		e->call = call;
		e->caller_uid = *caller;
		e->uid = uid;
		e->euid = euid;
		e->suid = suid;
		e->ret = ret;
		submit_event(e);
	}
	bpf_map_delete_elem(&setuid_caller, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_setuid")
int security_setuid_enter(struct syscall_enter_ctx *ctx)
{
	return setuid_enter();
}

SEC("tracepoint/syscalls/sys_enter_setfsuid")
int security_setfsuid_enter(struct syscall_enter_ctx *ctx)
{
	return setuid_enter();
}

SEC("tracepoint/syscalls/sys_enter_setresuid")
int security_setresuid_enter(struct syscall_enter_ctx *ctx)
{
	return setuid_enter();
}

SEC("tracepoint/syscalls/sys_enter_setreuid")
int security_setreuid_enter(struct syscall_enter_ctx *ctx)
{
	return setuid_enter();
}

SEC("tracepoint/syscalls/sys_exit_setuid")
int security_setuid_exit(struct syscall_exit_ctx *ctx)
{
	return setuid_exit(ctx, WIT_SETUID_CALL_SETUID, SYSCALL_ARG1(syscall_regs()), -1, -1, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_setfsuid")
int security_setfsuid_exit(struct syscall_exit_ctx *ctx)
{
	return setuid_exit(ctx, WIT_SETUID_CALL_SETFSUID, SYSCALL_ARG1(syscall_regs()), -1, -1, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_setresuid")
int security_setresuid_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return setuid_exit(ctx, WIT_SETUID_CALL_SETRESUID, SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), SYSCALL_ARG3(regs),
			   ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_setreuid")
int security_setreuid_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return setuid_exit(ctx, WIT_SETUID_CALL_SETREUID, SYSCALL_ARG1(regs), SYSCALL_ARG2(regs), -1, ctx->ret);
}

/* process.fork: in the parent, as the new task is created (a process, or a
 * thread when the parent used CLONE_THREAD). */
SEC("tracepoint/sched/sched_process_fork")
int process_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	if (!task_selected(PROBE_PROCESS_FORK))
		return 0;
	struct process_fork_event *e = reserve_event(ctx, PROBE_PROCESS_FORK, sizeof(*e));
	if (!e)
		return 0;
	e->child_pid = BPF_CORE_READ(ctx, child_pid);
	e->_pad = 0;
	submit_event(e);
	return 0;
}

/* security.capable: every capability check, granted or not, in the task
 * that needed it (capable.bt used the cap_capable kprobe). */
SEC("tracepoint/capability/cap_capable")
int security_capable(struct trace_event_raw_cap_capable *ctx)
{
	if (!task_selected(PROBE_SECURITY_CAPABLE))
		return 0;
	struct security_capable_event *e = reserve_event(ctx, PROBE_SECURITY_CAPABLE, sizeof(*e));
	if (!e)
		return 0;
	e->cap = BPF_CORE_READ(ctx, cap);
	e->ret = BPF_CORE_READ(ctx, ret);
	submit_event(e);
	return 0;
}

/* memory.oom-kill: the OOM killer chose a victim (oomkill.bt used the
 * oom_kill_process kprobe). Kernels before 6.x give only the victim's pid. */
SEC("tracepoint/oom/mark_victim")
int memory_oom_kill(struct trace_event_raw_mark_victim *ctx)
{
	if (!task_selected(PROBE_MEMORY_OOM_KILL))
		return 0;
	struct memory_oom_kill_event *e = reserve_event(ctx, PROBE_MEMORY_OOM_KILL, sizeof(*e));
	if (!e)
		return 0;
	__builtin_memset(&e->total_vm_kb, 0, sizeof(*e) - sizeof(e->h));
	e->victim_pid = BPF_CORE_READ(ctx, pid);
	if (bpf_core_field_exists(ctx->total_vm)) {
		e->total_vm_kb = BPF_CORE_READ(ctx, total_vm);
		e->anon_rss_kb = BPF_CORE_READ(ctx, anon_rss);
		e->file_rss_kb = BPF_CORE_READ(ctx, file_rss);
		e->shmem_rss_kb = BPF_CORE_READ(ctx, shmem_rss);
		e->victim_uid = BPF_CORE_READ(ctx, uid);
		e->oom_score_adj = BPF_CORE_READ(ctx, oom_score_adj);
	}
	if (bpf_core_field_exists(ctx->__data_loc_comm)) {
		__u32 loc = BPF_CORE_READ(ctx, __data_loc_comm);
		bpf_probe_read_kernel_str(e->victim_comm, sizeof(e->victim_comm), (void *)ctx + (loc & 0xffff));
	}
	submit_event(e);
	return 0;
}

/* The swap partitions (dev_t as the kernel encodes it; 0 = unused slot),
 * which the host writes from /proc/swaps. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SWAP_DEVICES_MAX);
	__type(key, __u32);
	__type(value, __u32);
} swap_devices SEC(".maps");

/* memory.swapin: a read from a swap device. swap_readpage() submits it in
 * the faulting task, so the header is the task that needed the page
 * (swapin.bt used the swap_readpage kprobe). */
SEC("tracepoint/block/block_bio_queue")
int memory_swapin(struct trace_event_raw_block_bio *ctx)
{
	char rw = 0;
	BPF_CORE_READ_INTO(&rw, ctx, rwbs[0]);
	if (rw != 'R' || !task_selected(PROBE_MEMORY_SWAPIN))
		return 0;
	__u32 dev = BPF_CORE_READ(ctx, dev);
	int swap = 0;
	for (__u32 i = 0; i < SWAP_DEVICES_MAX; i++) {
		__u32 *d = bpf_map_lookup_elem(&swap_devices, &i);
		if (d && *d && *d == dev)
			swap = 1;
	}
	if (!swap)
		return 0;
	struct memory_swapin_event *e = reserve_event(ctx, PROBE_MEMORY_SWAPIN, sizeof(*e));
	if (!e)
		return 0;
	e->sector = BPF_CORE_READ(ctx, sector);
	e->pages = BPF_CORE_READ(ctx, nr_sector) / 8;
	e->dev = dev;
	submit_event(e);
	return 0;
}
