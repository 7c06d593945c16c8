// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* file.open: open, openat and openat2, paired entry to exit in the kernel. */
#include "common.bpf.h"

#define AT_FDCWD -100

struct pending_open {
	const char *path;
	__s32 dfd;
	__u32 flags;
	__u32 mode;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);
	__type(value, struct pending_open);
} pending SEC(".maps");

static __always_inline int open_enter(const char *path, __s32 dfd, __u32 flags, __u32 mode)
{
	if (!task_selected(PROBE_FILE_OPEN))
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_open p = { .path = path, .dfd = dfd, .flags = flags, .mode = mode };
	bpf_map_update_elem(&pending, &tid, &p, BPF_ANY);
	return 0;
}

/* The path is read at exit: by then the kernel has faulted its page in. */
static __always_inline int open_exit(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct pending_open *p = bpf_map_lookup_elem(&pending, &tid);
	if (!p)
		return 0;
	struct file_open_event *e = reserve_event(PROBE_FILE_OPEN, sizeof(*e));
	if (e) {
		e->ret = ret;
		e->dfd = p->dfd;
		e->flags = p->flags;
		e->mode = p->mode;
		e->_pad = 0;
		if (bpf_probe_read_user_str(e->path, sizeof(e->path), p->path) < 0)
			e->path[0] = 0;
		submit_event(e);
	}
	bpf_map_delete_elem(&pending, &tid);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_open")
int file_open_enter(struct syscall_enter_ctx *ctx)
{
	return open_enter((const char *)ctx->args[0], AT_FDCWD, ctx->args[1], ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_enter_openat")
int file_openat_enter(struct syscall_enter_ctx *ctx)
{
	return open_enter((const char *)ctx->args[1], ctx->args[0], ctx->args[2], ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_enter_openat2")
int file_openat2_enter(struct syscall_enter_ctx *ctx)
{
	struct open_how how = {};
	bpf_probe_read_user(&how, sizeof(how), (void *)ctx->args[2]);
	return open_enter((const char *)ctx->args[1], ctx->args[0], how.flags, how.mode);
}

SEC("tracepoint/syscalls/sys_exit_open")
int file_open_exit(struct syscall_exit_ctx *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat")
int file_openat_exit(struct syscall_exit_ctx *ctx)
{
	return open_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_openat2")
int file_openat2_exit(struct syscall_exit_ctx *ctx)
{
	return open_exit(ctx->ret);
}
