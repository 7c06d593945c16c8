// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* file.open: open, openat and openat2, one event when each returns.
 * file.sync: the sync family, one event when each is entered (like syncsnoop.bt).
 * file.stat: the stat family, one event when each returns (like statsnoop.bt).
 * file.latency: read, write, open and fsync timed from entry to exit, with the
 * file system they went to (like xfsdist.bt, for every file system).
 *
 * Only the exit tracepoints are hooked: the arguments are read from the
 * registers saved at syscall entry, and the path is read once the kernel has
 * faulted its page in. Half the hooks of an entry/exit pair, and no map to
 * carry the arguments across, which is most of what this probe costs. */
#include "common.bpf.h"

#define AT_FDCWD -100
#define AT_REMOVEDIR 0x200

static __always_inline int open_exit(void *ctx, long ret, const char *path, __s32 dfd, __u32 flags, __u32 mode)
{
	if (!task_selected(PROBE_FILE_OPEN))
		return 0;
	struct file_open_event *e = reserve_event(ctx, PROBE_FILE_OPEN, sizeof(*e));
	if (!e)
		return 0;
	e->ret = ret;
	e->dfd = dfd;
	e->flags = flags;
	e->mode = mode;
	e->_pad = 0;
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), path) < 0)
		e->path[0] = 0;
	submit_event(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_open")
int file_open_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return open_exit(ctx, ctx->ret, (const char *)SYSCALL_ARG1(regs), AT_FDCWD, SYSCALL_ARG2(regs),
			 SYSCALL_ARG3(regs));
}

SEC("tracepoint/syscalls/sys_exit_openat")
int file_openat_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return open_exit(ctx, ctx->ret, (const char *)SYSCALL_ARG2(regs), SYSCALL_ARG1(regs), SYSCALL_ARG3(regs),
			 SYSCALL_ARG4(regs));
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int file_openat2_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)SYSCALL_ARG3(regs));
	return open_exit(ctx, ctx->ret, (const char *)SYSCALL_ARG2(regs), SYSCALL_ARG1(regs), how.flags, how.mode);
}

static __always_inline int sync_enter(void *ctx, __u32 call, __s32 fd)
{
	if (!task_selected(PROBE_FILE_SYNC))
		return 0;
	struct file_sync_event *e = reserve_event(ctx, PROBE_FILE_SYNC, sizeof(*e));
	if (!e)
		return 0;
	e->call = call;
	e->fd = fd;
	submit_event(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sync")
int file_sync_enter(struct syscall_enter_ctx *ctx)
{
	return sync_enter(ctx, WIT_SYNC_CALL_SYNC, -1);
}

SEC("tracepoint/syscalls/sys_enter_syncfs")
int file_syncfs_enter(struct syscall_enter_ctx *ctx)
{
	return sync_enter(ctx, WIT_SYNC_CALL_SYNCFS, ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int file_fsync_enter(struct syscall_enter_ctx *ctx)
{
	return sync_enter(ctx, WIT_SYNC_CALL_FSYNC, ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int file_fdatasync_enter(struct syscall_enter_ctx *ctx)
{
	return sync_enter(ctx, WIT_SYNC_CALL_FDATASYNC, ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_sync_file_range")
int file_sync_file_range_enter(struct syscall_enter_ctx *ctx)
{
	return sync_enter(ctx, WIT_SYNC_CALL_SYNC_FILE_RANGE, ctx->args[0]);
}

SEC("tracepoint/syscalls/sys_enter_msync")
int file_msync_enter(struct syscall_enter_ctx *ctx)
{
	return sync_enter(ctx, WIT_SYNC_CALL_MSYNC, -1);
}

static __always_inline int stat_exit(void *ctx, __u32 call, const char *path, long ret)
{
	if (!task_selected(PROBE_FILE_STAT))
		return 0;
	struct file_stat_event *e = reserve_event(ctx, PROBE_FILE_STAT, sizeof(*e));
	if (!e)
		return 0;
	e->call = call;
	e->ret = ret;
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), path) < 0)
		e->path[0] = 0;
	submit_event(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_newstat")
int file_stat_exit(struct syscall_exit_ctx *ctx)
{
	return stat_exit(ctx, WIT_STAT_CALL_STAT, (const char *)SYSCALL_ARG1(syscall_regs()), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_newlstat")
int file_lstat_exit(struct syscall_exit_ctx *ctx)
{
	return stat_exit(ctx, WIT_STAT_CALL_LSTAT, (const char *)SYSCALL_ARG1(syscall_regs()), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_newfstatat")
int file_fstatat_exit(struct syscall_exit_ctx *ctx)
{
	return stat_exit(ctx, WIT_STAT_CALL_FSTATAT, (const char *)SYSCALL_ARG2(syscall_regs()), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_statx")
int file_statx_exit(struct syscall_exit_ctx *ctx)
{
	return stat_exit(ctx, WIT_STAT_CALL_STATX, (const char *)SYSCALL_ARG2(syscall_regs()), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_statfs")
int file_statfs_exit(struct syscall_exit_ctx *ctx)
{
	return stat_exit(ctx, WIT_STAT_CALL_STATFS, (const char *)SYSCALL_ARG1(syscall_regs()), ctx->ret);
}

static __always_inline int unlink_exit(void *ctx, const char *path, __s32 dfd, __u32 flags, long ret)
{
	if (!task_selected(PROBE_FILE_UNLINK))
		return 0;
	struct file_unlink_event *e = reserve_event(ctx, PROBE_FILE_UNLINK, sizeof(*e));
	if (!e)
		return 0;
	e->ret = ret;
	e->dfd = dfd;
	e->flags = flags;
	if (bpf_probe_read_user_str(e->path, sizeof(e->path), path) < 0)
		e->path[0] = 0;
	submit_event(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unlinkat")
int file_unlinkat_exit(struct syscall_exit_ctx *ctx)
{
	struct pt_regs *regs = syscall_regs();
	return unlink_exit(ctx, (const char *)SYSCALL_ARG2(regs), SYSCALL_ARG1(regs), SYSCALL_ARG3(regs), ctx->ret);
}

/* unlink and rmdir: x86_64's; arm64 has only unlinkat. */
SEC("tracepoint/syscalls/sys_exit_unlink")
int file_unlink_exit(struct syscall_exit_ctx *ctx)
{
	return unlink_exit(ctx, (const char *)SYSCALL_ARG1(syscall_regs()), AT_FDCWD, 0, ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_rmdir")
int file_rmdir_exit(struct syscall_exit_ctx *ctx)
{
	return unlink_exit(ctx, (const char *)SYSCALL_ARG1(syscall_regs()), AT_FDCWD, AT_REMOVEDIR, ctx->ret);
}

struct io_start {
	__u64 ts;
	__s64 fd;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct io_start);
} io_started SEC(".maps");

static __always_inline int io_enter(long fd)
{
	if (!task_selected(PROBE_FILE_LATENCY))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct io_start start = {.ts = bpf_ktime_get_ns(), .fd = fd};
	bpf_map_update_elem(&io_started, &tid, &start, BPF_ANY);
	return 0;
}

/* `fd` < 0: the file is the one the call returned (open). */
static __always_inline int io_exit(void *ctx, __u32 op, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct io_start *start = bpf_map_lookup_elem(&io_started, &tid);
	if (!start)
		return 0;
	__u64 latency = bpf_ktime_get_ns() - start->ts;
	long fd = start->fd < 0 ? ret : start->fd;
	bpf_map_delete_elem(&io_started, &tid);
	struct file *file = fd_file(fd);
	if (!file)
		return 0;
	struct file_latency_event *e = reserve_event(ctx, PROBE_FILE_LATENCY, sizeof(*e));
	if (!e)
		return 0;
	e->latency_ns = latency;
	e->ret = ret;
	e->op = op;
	e->fd = fd;
	const char *fs = BPF_CORE_READ(file, f_inode, i_sb, s_type, name);
	if (bpf_probe_read_kernel_str(e->fs_type, sizeof(e->fs_type), fs) < 0)
		e->fs_type[0] = 0;
	submit_event(e);
	return 0;
}

#define TIMED(call, op, fd_arg)                                                                     \
	SEC("tracepoint/syscalls/sys_enter_" #call)                                                 \
	int file_##call##_latency_enter(struct syscall_enter_ctx *ctx)                              \
	{                                                                                           \
		return io_enter(fd_arg);                                                            \
	}                                                                                           \
	SEC("tracepoint/syscalls/sys_exit_" #call)                                                  \
	int file_##call##_latency_exit(struct syscall_exit_ctx *ctx)                                \
	{                                                                                           \
		return io_exit(ctx, op, ctx->ret);                                                       \
	}

TIMED(read, WIT_FILE_OP_READ, ctx->args[0])
TIMED(pread64, WIT_FILE_OP_READ, ctx->args[0])
TIMED(write, WIT_FILE_OP_WRITE, ctx->args[0])
TIMED(pwrite64, WIT_FILE_OP_WRITE, ctx->args[0])
TIMED(openat, WIT_FILE_OP_OPEN, -1)
TIMED(fsync, WIT_FILE_OP_FSYNC, ctx->args[0])
TIMED(fdatasync, WIT_FILE_OP_FSYNC, ctx->args[0])
