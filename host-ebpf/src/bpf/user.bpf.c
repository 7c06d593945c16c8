// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Probes on user-space functions (uprobes): shell.readline on bash's
 * readline(), process.thread on libc's pthread_create(), net.dns on libc's
 * name lookups and net.tls on OpenSSL's reads, writes and handshakes. */
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
	struct shell_readline_event *e = reserve_event(ctx, PROBE_SHELL_READLINE, sizeof(*e));
	if (!e)
		return 0;
	/* The rest zeroed, not what the ring held before (recordings keep it). */
	__builtin_memset(e->line, 0, sizeof(e->line));
	bpf_probe_read_user_str(e->line, sizeof(e->line), line);
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
	struct process_thread_event *e = reserve_event(ctx, PROBE_PROCESS_THREAD, sizeof(*e));
	if (!e)
		return 0;
	e->start_routine = FUNC_ARG3(ctx);
	submit_event(e);
	return 0;
}

/* A call in flight on a thread, from its uprobe to its uretprobe: when it
 * began, which function, and the arguments the return needs. An entry goes
 * when the call returns, or when its thread exits (killed in the call); it
 * is used only by the thread that made it (its start time: a tid is
 * reused), so another process's return never reads at its pointers. A full
 * map loses the call, counted as a drop of the probe. */
struct call {
	__u64 start_ns;
	__u64 task_start; /* the thread's start time */
	__u64 arg;  /* net.dns: the host name; net.tls: the buffer's size */
	__u64 out;  /* net.tls's _ex calls: where the count is written */
	__u32 func; /* enum wit_dns_call or wit_tls_call */
	__u32 _pad;
};

struct calls {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct call);
};

struct calls dns_calls SEC(".maps");
struct calls tls_calls SEC(".maps");

static __always_inline void call_begin(void *calls, __u32 probe, __u32 func, __u64 arg, __u64 out)
{
	if (!task_selected(probe))
		return;
	__u32 tid = bpf_get_current_pid_tgid();
	struct call c = {
		.start_ns = bpf_ktime_get_boot_ns(),
		.task_start = bpf_get_current_task_btf()->start_time,
		.arg = arg,
		.out = out,
		.func = func,
	};
	if (bpf_map_update_elem(calls, &tid, &c, BPF_ANY))
		count_drop(probe);
}

/* The call this thread began, taken out of the map, or 0. */
static __always_inline int call_end(void *calls, struct call *c)
{
	__u32 tid = bpf_get_current_pid_tgid();
	struct call *found = bpf_map_lookup_elem(calls, &tid);
	if (!found)
		return 0;
	*c = *found;
	bpf_map_delete_elem(calls, &tid);
	return c->task_start == bpf_get_current_task_btf()->start_time;
}

/* A thread that exits in a call (killed) never returns from it. */
static __always_inline void call_gone(void *calls, unsigned long long *ctx)
{
	__u32 tid = ((struct task_struct *)ctx[0])->pid;
	bpf_map_delete_elem(calls, &tid);
}

SEC("tp_btf/sched_process_exit")
int dns_exit(unsigned long long *ctx)
{
	call_gone(&dns_calls, ctx);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int tls_exit(unsigned long long *ctx)
{
	call_gone(&tls_calls, ctx);
	return 0;
}

/* net.dns: libc's name lookups, from call to return, as gethostlatency.bt. */
static __always_inline int dns_return(struct pt_regs *ctx)
{
	struct call c;
	if (!call_end(&dns_calls, &c))
		return 0;
	struct net_dns_event *e = reserve_event(ctx, PROBE_NET_DNS, sizeof(*e));
	if (!e)
		return 0;
	e->latency_ns = e->h.ts_boot_ns - c.start_ns;
	e->call = c.func;
	long ret = FUNC_RET(ctx);
	/* getaddrinfo returns 0 or an EAI_ code; gethostbyname* an entry or NULL. */
	e->error = c.func == WIT_DNS_CALL_GETADDRINFO ? (__s32)ret : (ret ? 0 : -1);
	/* The caller's string, still in place as its call returns; the rest of
	 * the buffer zeroed, not what the ring held before (recordings keep it). */
	__builtin_memset(e->host, 0, sizeof(e->host));
	bpf_probe_read_user_str(e->host, sizeof(e->host), (const void *)c.arg);
	submit_event(e);
	return 0;
}

#define DNS_CALL(fn, func)                                                            \
	SEC("uprobe")                                                                 \
	int dns_##fn(struct pt_regs *ctx)                                             \
	{                                                                             \
		call_begin(&dns_calls, PROBE_NET_DNS, func, FUNC_ARG1(ctx), 0);       \
		return 0;                                                             \
	}                                                                             \
	SEC("uretprobe")                                                              \
	int dns_##fn##_ret(struct pt_regs *ctx)                                       \
	{                                                                             \
		return dns_return(ctx);                                               \
	}

DNS_CALL(getaddrinfo, WIT_DNS_CALL_GETADDRINFO)
DNS_CALL(gethostbyname, WIT_DNS_CALL_GETHOSTBYNAME)
DNS_CALL(gethostbyname2, WIT_DNS_CALL_GETHOSTBYNAME2)

/* net.tls: OpenSSL's reads, writes and handshakes, from call to return, as
 * sslsnoop.bt and ssllatency.bt; sizes, never the data. */
static __always_inline int tls_return(struct pt_regs *ctx)
{
	struct call c;
	if (!call_end(&tls_calls, &c))
		return 0;
	struct net_tls_event *e = reserve_event(ctx, PROBE_NET_TLS, sizeof(*e));
	if (!e)
		return 0;
	e->latency_ns = e->h.ts_boot_ns - c.start_ns;
	e->call = c.func;
	e->ret = (int)FUNC_RET(ctx);
	e->requested = c.arg;
	e->bytes = 0;
	if (c.out && e->ret == 1) {
		/* SSL_read_ex/SSL_write_ex: 1, and the count through their last argument. */
		__u64 count = 0;
		bpf_probe_read_user(&count, sizeof(count), (const void *)c.out);
		e->bytes = count;
	} else if (!c.out && c.func != WIT_TLS_CALL_HANDSHAKE && e->ret > 0) {
		e->bytes = e->ret;
	}
	submit_event(e);
	return 0;
}

/* SSL_read(ssl, buf, num), SSL_read_ex(ssl, buf, num, *readbytes), and the
 * writes alike; SSL_do_handshake(ssl). */
#define TLS_CALL(fn, func, arg, out)                                                  \
	SEC("uprobe")                                                                 \
	int tls_##fn(struct pt_regs *ctx)                                             \
	{                                                                             \
		call_begin(&tls_calls, PROBE_NET_TLS, func, arg, out);                \
		return 0;                                                             \
	}                                                                             \
	SEC("uretprobe")                                                              \
	int tls_##fn##_ret(struct pt_regs *ctx)                                       \
	{                                                                             \
		return tls_return(ctx);                                               \
	}

TLS_CALL(read, WIT_TLS_CALL_READ, (__u32)FUNC_ARG3(ctx), 0)
TLS_CALL(write, WIT_TLS_CALL_WRITE, (__u32)FUNC_ARG3(ctx), 0)
TLS_CALL(read_ex, WIT_TLS_CALL_READ_EX, FUNC_ARG3(ctx), FUNC_ARG4(ctx))
TLS_CALL(write_ex, WIT_TLS_CALL_WRITE_EX, FUNC_ARG3(ctx), FUNC_ARG4(ctx))
TLS_CALL(do_handshake, WIT_TLS_CALL_HANDSHAKE, 0, 0)
