/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The layout of every record that crosses the ring buffers, and of the filter
 * config map: the single source of truth for that ABI. The eBPF programs
 * include it; host-ebpf's build.rs generates the Rust side from it (bindgen
 * for the structs, and the probe list below for the Rust enum), so the two
 * cannot drift apart. The enums a record holds (`enum wit_kill_call`) are
 * generated from the WIT into wit_enums.h: a value is its case's position
 * there, which the host and every SDK read.
 */
#ifndef WASMTRACE_EVENTS_H
#define WASMTRACE_EVENTS_H

#include "wit_enums.h" /* generated from the WIT at build time */

#define COMM_LEN 16
#define PATH_LEN 256
#define ARGV_LEN 1024 /* argv bytes kept per exec, NUL-separated */
#define ARGV_MAX 32   /* argv entries kept per exec */
#define FILTER_MAX 8  /* values per filter list */
#define SYSCALL_COUNT_KEYS 16384 /* (process, syscall, comm) entries counted per interval */

/* The probes of the catalog, in id order, each with the struct of its
 * records: X(NAME, record). A probe's id is its place here: the index of its
 * filter and drop-counter slots, and the tag that tells the host how to
 * decode a record. Add new probes at the end; never reorder (recordings
 * store the ids). One line each: build.rs reads them. */
#define WASMTRACE_PROBES(X) \
	X(PROCESS_EXEC, process_exec_event) \
	X(PROCESS_EXIT, process_exit_event) \
	X(FILE_OPEN, file_open_event) \
	X(SYSCALL_ENTER, syscall_enter_event) \
	X(SIGNAL_KILL, signal_kill_event) \
	X(PROCESS_SLEEP, process_sleep_event) \
	X(FILE_SYNC, file_sync_event) \
	X(FILE_STAT, file_stat_event) \
	X(SECURITY_SETUID, security_setuid_event) \
	X(PROCESS_FORK, process_fork_event) \
	X(SECURITY_CAPABLE, security_capable_event) \
	X(MEMORY_OOM_KILL, memory_oom_kill_event) \
	X(NET_TCP_CONNECT, net_tcp_connect_event) \
	X(NET_TCP_LIFE, net_tcp_life_event) \
	X(NET_TCP_RETRANSMIT, net_tcp_retransmit_event) \
	X(NET_TCP_ACCEPT, net_tcp_backlog_event) \
	X(NET_TCP_DROP, net_tcp_drop_event) \
	X(SHELL_READLINE, shell_readline_event) \
	X(PROCESS_THREAD, process_thread_event) \
	X(NET_TCP_SYN_BACKLOG, net_tcp_backlog_event) \
	X(FILE_LATENCY, file_latency_event) \
	X(MEMORY_SWAPIN, memory_swapin_event) \
	X(FILE_UNLINK, file_unlink_event) \
	X(SYSCALL_COUNT, syscall_count_event) \
	X(SCHED_RUNQ_LATENCY, sched_runq_latency_event) \
	X(BLOCK_IO, block_io_event) \
	X(BLOCK_WRITEBACK, block_writeback_event) \
	X(NET_DNS, net_dns_event) \
	X(NET_TLS, net_tls_event) \
	X(CPU_SAMPLE, cpu_sample_event)

enum probe_id {
#define PROBE_ID(name, record) PROBE_##name,
	WASMTRACE_PROBES(PROBE_ID)
#undef PROBE_ID
	PROBE_COUNT,
};

struct event_header {
	__u64 ts_boot_ns; /* CLOCK_BOOTTIME */
	__u64 cgroup_id;
	__u32 probe;      /* enum probe_id */
	__u32 cpu;
	__u32 pid;        /* thread group id, what ps calls PID */
	__u32 tid;
	__u32 ppid;
	__u32 uid;
	__u32 gid;
	__u32 stacks;     /* 1: a struct stack_trailer follows the record */
	char comm[COMM_LEN];
};
_Static_assert(sizeof(struct event_header) == 64, "header layout is ABI");

struct process_exec_event {
	struct event_header h;
	__s32 ret;        /* 0, or -errno when execve failed */
	__u32 argc;       /* entries kept in argv */
	__u32 argv_len;   /* bytes used in argv */
	__u32 truncated;  /* 1 when argv had more than fits */
	char caller_comm[COMM_LEN]; /* comm before the exec: who ran the program */
	char filename[PATH_LEN];
	char argv[ARGV_LEN];
};
_Static_assert(sizeof(struct process_exec_event) == 64 + 16 + COMM_LEN + PATH_LEN + ARGV_LEN, "exec layout is ABI");

struct process_exit_event {
	struct event_header h;
	__u64 lifetime_ns;
	__u32 exit_code;  /* the kernel's wait status: code << 8 | signal */
	__u32 _pad;
};
_Static_assert(sizeof(struct process_exit_event) == 80, "exit layout is ABI");

struct file_open_event {
	struct event_header h;
	__s64 ret;        /* fd, or -errno */
	__s32 dfd;
	__u32 flags;
	__u32 mode;
	__u32 _pad;
	char path[PATH_LEN];
};
_Static_assert(sizeof(struct file_open_event) == 64 + 24 + PATH_LEN, "open layout is ABI");

struct syscall_enter_event {
	struct event_header h;
	__u64 id;
};
_Static_assert(sizeof(struct syscall_enter_event) == 72, "syscall layout is ABI");

/* The stacks a probe's events carry, when its `[probe]` table asks
 * (`stacks = "kernel" | "user" | "both"`): the frames' return addresses,
 * innermost first, in a trailer after the record. The kernel stops at its
 * perf_event_max_stack (127 by default); a user stack is walked by frame
 * pointers and ends where code was built without them. */
#define STACK_FRAMES 127
enum stack_kind {
	STACK_KERNEL = 1,
	STACK_USER = 2,
};

struct stack_trailer {
	__u32 kernel_bytes; /* bytes of `kernel` filled: 8 per frame */
	__u32 user_bytes;
	__u64 kernel[STACK_FRAMES];
	__u64 user[STACK_FRAMES];
};
_Static_assert(sizeof(struct stack_trailer) == 8 + 16 * STACK_FRAMES, "stack layout is ABI");

/* Which tasks a probe's filter passes by where they run. */
enum scope {
	SCOPE_ANY = 0,
	SCOPE_HOST = 1,       /* tasks in the initial pid namespace */
	SCOPE_CONTAINERS = 2, /* tasks in any other pid namespace */
	SCOPE_CGROUPS = 3,    /* tasks in one of `cgroups` (named containers); none when empty */
};

#define CGROUPS_MAX 16 /* cgroups a container filter can name at once */

/* One per probe in the `filters` array map. A list with n == 0 does not
 * filter; otherwise the task must match one of its values. */
struct filter {
	__u32 enabled;       /* 0: the probe emits nothing */
	__u32 exclude_tgid;  /* the tracer itself, so that it does not trace its own work */
	__u32 n_pids;
	__u32 n_uids;
	__u32 n_comms;
	__u32 scope;         /* enum scope */
	__u32 pids[FILTER_MAX];
	__u32 uids[FILTER_MAX];
	char comms[FILTER_MAX][COMM_LEN];
	__u32 n_cgroups;
	__u32 stacks;        /* STACK_KERNEL | STACK_USER: what the probe's events carry */
	__u64 cgroups[CGROUPS_MAX];
	/* Each cgroup's depth below the root: the cgroups below it are the container's too. */
	__u32 cgroup_levels[CGROUPS_MAX];
};
_Static_assert(sizeof(struct filter) == 24 + 32 + 32 + 128 + 8 + 12 * CGROUPS_MAX, "filter layout is ABI");

struct signal_kill_event {
	struct event_header h;
	__s32 target;     /* kill's pid (negative: a process group), or the thread of tkill/tgkill */
	__u32 signal;
	__s32 ret;        /* 0, or -errno */
	__u32 call;       /* enum wit_kill_call */
};
_Static_assert(sizeof(struct signal_kill_event) == 80, "kill layout is ABI");

struct process_sleep_event {
	struct event_header h;
	__u64 duration_ns; /* requested; with TIMER_ABSTIME, the wake-up time on `clock` */
	__u32 clock;       /* clockid_t; nanosleep sleeps on CLOCK_MONOTONIC */
	__u32 flags;       /* clock_nanosleep's flags (TIMER_ABSTIME = 1) */
	char parent_comm[COMM_LEN];
};
_Static_assert(sizeof(struct process_sleep_event) == 96, "sleep layout is ABI");

struct file_sync_event {
	struct event_header h;
	__u32 call;       /* enum wit_sync_call */
	__s32 fd;         /* -1 for sync and msync */
};
_Static_assert(sizeof(struct file_sync_event) == 72, "sync layout is ABI");

struct file_stat_event {
	struct event_header h;
	__s32 ret;        /* 0, or -errno */
	__u32 call;       /* enum wit_stat_call */
	char path[PATH_LEN];
};
_Static_assert(sizeof(struct file_stat_event) == 64 + 8 + PATH_LEN, "stat layout is ABI");

struct security_setuid_event {
	struct event_header h;
	__u32 call;       /* enum wit_setuid_call */
	__u32 caller_uid; /* the uid before the call */
	__s32 uid;        /* setuid/setfsuid's uid; setresuid/setreuid's ruid */
	__s32 euid;       /* setresuid/setreuid; else -1 */
	__s32 suid;       /* setresuid; else -1 */
	__s32 ret;        /* 0 or -errno; setfsuid: the previous fsuid */
};
_Static_assert(sizeof(struct security_setuid_event) == 88, "setuid layout is ABI");

struct process_fork_event {
	struct event_header h;  /* the parent */
	__u32 child_pid;        /* the new task's id: a process, or a thread of the parent */
	__u32 _pad;
};
_Static_assert(sizeof(struct process_fork_event) == 72, "fork layout is ABI");

struct security_capable_event {
	struct event_header h;
	__u32 cap;        /* CAP_* number */
	__s32 ret;        /* 0: granted, else -EPERM */
};
_Static_assert(sizeof(struct security_capable_event) == 72, "capable layout is ABI");

struct memory_oom_kill_event {
	struct event_header h;  /* the task whose allocation triggered the OOM killer */
	__u64 total_vm_kb;
	__u64 anon_rss_kb;
	__u64 file_rss_kb;
	__u64 shmem_rss_kb;
	__u32 victim_pid;
	__u32 victim_uid;
	__s32 oom_score_adj;
	__u32 _pad;
	char victim_comm[COMM_LEN];
};
_Static_assert(sizeof(struct memory_oom_kill_event) == 64 + 48 + COMM_LEN, "oom layout is ABI");

/* A TCP connection's ends, as the kernel's tracepoints give them. */
struct tcp_ends {
	__u16 family;     /* AF_INET 2 or AF_INET6 10 */
	__u16 sport;      /* local port */
	__u16 dport;      /* remote port */
	__u16 _pad;
	__u8 saddr[16];   /* local address; IPv4 in the first 4 bytes */
	__u8 daddr[16];   /* remote address */
};
_Static_assert(sizeof(struct tcp_ends) == 40, "tcp ends layout is ABI");

struct net_tcp_connect_event {
	struct event_header h;  /* the task that called connect() */
	struct tcp_ends ends;
	__u64 latency_ns;       /* from SYN sent to the answer */
	__u32 established;      /* 1: established; 0: refused, reset or timed out */
	__u32 _pad;
};
_Static_assert(sizeof(struct net_tcp_connect_event) == 64 + 40 + 16, "connect layout is ABI");

struct net_tcp_life_event {
	struct event_header h;  /* the task that opened or closed it */
	struct tcp_ends ends;
	__u64 duration_ns;
	__u64 rx_bytes;
	__u64 tx_bytes;
};
_Static_assert(sizeof(struct net_tcp_life_event) == 64 + 40 + 24, "life layout is ABI");

struct net_tcp_retransmit_event {
	struct event_header h;  /* whatever ran on the CPU: retransmits come from timers */
	struct tcp_ends ends;
	__u32 state;            /* TCP state (TCP_ESTABLISHED 1, TCP_SYN_SENT 2, ...) */
	__u32 _pad;
};
_Static_assert(sizeof(struct net_tcp_retransmit_event) == 64 + 40 + 8, "retransmit layout is ABI");

/* net.tcp.accept (after accept(), in the accepting task) and
 * net.tcp.syn-backlog (as a handshake completes, in softirq). */
struct net_tcp_backlog_event {
	struct event_header h;
	struct tcp_ends ends;   /* local: the listener's address and port */
	__u32 backlog;          /* connections waiting on the listener */
	__u32 max_backlog;      /* its listen() backlog */
};
_Static_assert(sizeof(struct net_tcp_backlog_event) == 64 + 40 + 8, "backlog layout is ABI");

struct net_tcp_drop_event {
	struct event_header h;  /* whatever ran on the CPU: drops happen in softirq */
	struct tcp_ends ends;   /* as in the packet: s = its source, d = its destination */
	__u32 reason;           /* enum skb_drop_reason */
	__u8 tcp_flags;         /* FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, ... */
	__u8 _pad[3];
};
_Static_assert(sizeof(struct net_tcp_drop_event) == 64 + 40 + 8, "drop layout is ABI");

struct shell_readline_event {
	struct event_header h;
	char line[PATH_LEN];    /* the line bash read, at most 255 bytes */
};
_Static_assert(sizeof(struct shell_readline_event) == 64 + PATH_LEN, "readline layout is ABI");

struct process_thread_event {
	struct event_header h;  /* the creating thread */
	__u64 start_routine;    /* the new thread's function, an address in the process */
};
_Static_assert(sizeof(struct process_thread_event) == 72, "thread layout is ABI");

struct file_latency_event {
	struct event_header h;
	__u64 latency_ns;
	__s64 ret;              /* bytes, the new fd, or -errno */
	__u32 op;               /* enum wit_file_op */
	__s32 fd;
	char fs_type[16];       /* the file system's name: ext4, xfs, tmpfs, ... */
};
_Static_assert(sizeof(struct file_latency_event) == 64 + 24 + 16, "latency layout is ABI");

#define SWAP_DEVICES_MAX 8

struct memory_swapin_event {
	struct event_header h;  /* the task whose page fault reads the page back */
	__u64 sector;           /* where on the swap device */
	__u32 pages;            /* pages read (swap readahead reads several) */
	__u32 dev;              /* the swap device, as the kernel encodes dev_t */
};
_Static_assert(sizeof(struct memory_swapin_event) == 64 + 16, "swapin layout is ABI");

struct file_unlink_event {
	struct event_header h;
	__s32 ret;        /* 0, or -errno */
	__s32 dfd;        /* the directory fd the path is relative to; AT_FDCWD for unlink and rmdir */
	__u32 flags;      /* AT_REMOVEDIR (0x200) for rmdir, or as unlinkat was given */
	__u32 _pad;
	char path[PATH_LEN];
};
_Static_assert(sizeof(struct file_unlink_event) == 64 + 16 + PATH_LEN, "unlink layout is ABI");

/* syscall.count is counted in the kernel: one entry per (process, syscall,
 * comm) in a per-CPU hash map, which the host reads and empties every
 * interval. `generation` is the interval's: the host moves it on, waits
 * until no program can still be adding to the old one, then reads that. */
struct syscall_count_key {
	__u32 tgid;
	__u32 id;
	char comm[COMM_LEN];
	__u32 generation;
	__u32 _pad;
};
_Static_assert(sizeof(struct syscall_count_key) == 32, "syscall count key layout is ABI");

/* A map entry's value on one CPU, and the record the host makes of an entry:
 * the header of the first call counted on that CPU in the interval, and the
 * count (summed over the CPUs in the record). */
struct syscall_count_event {
	struct event_header h;
	__u64 id;
	__u64 count;
};
_Static_assert(sizeof(struct syscall_count_event) == 80, "syscall count layout is ABI");

struct sched_runq_latency_event {
	struct event_header h;  /* the task that got the CPU */
	__u64 latency_ns;
	__u32 queued_by;        /* enum wit_queue_reason */
	__u32 prev_tid;
	__u32 prev_state;       /* enum wit_task_state */
	__u32 _pad;
	char prev_comm[COMM_LEN];
};
_Static_assert(sizeof(struct sched_runq_latency_event) == 64 + 24 + COMM_LEN, "runq layout is ABI");

/* block_io_event.flags */
#define BLOCK_SYNC 1
#define BLOCK_META 2
#define BLOCK_FUA 4
#define BLOCK_PREFLUSH 8
#define BLOCK_READAHEAD 16

#define DISK_NAME_LEN 32

struct block_io_event {
	struct event_header h;  /* the task that submitted it, on the CPU it submitted from */
	__u64 sector;
	__u64 queued_ns;        /* insert to issue; 0 when issued directly */
	__u64 service_ns;       /* issue to completion */
	__u32 bytes;
	__u32 major;
	__u32 minor;
	__u32 op;               /* enum wit_block_op */
	__u32 flags;            /* BLOCK_* */
	__u32 status;           /* blk_status_t: 0 is success */
	char disk[DISK_NAME_LEN];
};
_Static_assert(sizeof(struct block_io_event) == 64 + 48 + DISK_NAME_LEN, "block layout is ABI");

struct block_writeback_event {
	struct event_header h;  /* the flusher: a kernel worker */
	__u64 latency_ns;       /* writeback_start to writeback_written */
	__u64 pages;            /* pages written in the pass */
	__u32 sb_dev;           /* the file system's device (kernel dev_t), 0 for all of the device's */
	__u32 reason;           /* enum wit_writeback_reason */
	__u32 sync_all;         /* WB_SYNC_ALL: waits on every page (data integrity) */
	__u32 background;
	char device[32];        /* the backing device (bdi), "254:0" */
};
_Static_assert(sizeof(struct block_writeback_event) == 64 + 32 + 32, "writeback layout is ABI");

#define HOST_LEN 256 /* a DNS name is at most 253 bytes */

struct net_dns_event {
	struct event_header h;
	__u64 latency_ns;
	__u32 call;             /* enum wit_dns_call */
	__s32 error;            /* getaddrinfo's return; gethostbyname*: 0 or -1 */
	char host[HOST_LEN];
};
_Static_assert(sizeof(struct net_dns_event) == 64 + 16 + HOST_LEN, "dns layout is ABI");

struct net_tls_event {
	struct event_header h;
	__u64 latency_ns;
	__u64 bytes;            /* moved: SSL_read/SSL_write's positive return, or the _ex calls' count */
	__u64 requested;        /* the buffer's size the caller passed; 0 for a handshake */
	__u32 call;             /* enum wit_tls_call */
	__s32 ret;              /* the function's return */
};
_Static_assert(sizeof(struct net_tls_event) == 64 + 32, "tls layout is ABI");

struct cpu_sample_event {
	struct event_header h;  /* the task the sample interrupted: pid 0 when the CPU was idle */
	__u32 user;             /* 1: it was running user code */
	__u32 runnable;         /* the CPU's runnable tasks, the interrupted one included */
};
_Static_assert(sizeof(struct cpu_sample_event) == 72, "sample layout is ABI");

#endif
