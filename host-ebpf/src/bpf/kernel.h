/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few kernel types the probes read, declared with preserve_access_index so
 * that libbpf/aya relocate every field access against the running kernel's BTF
 * (CO-RE). Only the fields used are declared; offsets here do not matter.
 * This keeps the repository free of a generated multi-megabyte vmlinux.h.
 */
#ifndef WASMTRACE_KERNEL_H
#define WASMTRACE_KERNEL_H

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct files_struct;

/* A pid as seen from its namespaces: level 0 is the initial namespace. */
struct pid {
	unsigned int level;
};

struct kernfs_node {
	__u64 id;
};
/* A cgroup's ancestors by level (itself at its own): since 6.1 pointers;
 * before, their ids (cgroup___ids). */
struct cgroup {
	struct kernfs_node *kn;
	int level;
	struct cgroup *ancestors[];
};
struct cgroup___ids {
	int level;
	__u64 ancestor_ids[];
};
struct css_set {
	struct cgroup *dfl_cgrp;
};
typedef struct {
	unsigned int val;
} kuid_t;
typedef struct {
	unsigned int val;
} kgid_t;
struct cred {
	kuid_t uid;
	kgid_t gid;
};
struct task_struct {
	int pid;
	int tgid;
	unsigned int __state;
	int exit_state;
	char comm[16];
	const struct cred *cred;
	struct css_set *cgroups;
	struct files_struct *files;
	int exit_code;
	unsigned long long start_time;
	struct task_struct *real_parent;
	struct task_struct *group_leader;
	struct pid *thread_pid;
};

/* Tracepoint contexts. Their layout is the tracepoint ABI shown in
 * /sys/kernel/tracing/events/.../format, stable across kernels. */
struct trace_event_raw_sys_enter {
	unsigned long long common;
	long id;
	unsigned long args[6];
};

/* Its comm fields changed from arrays to __data_loc in 6.x; CO-RE finds
 * child_pid wherever it is. */
struct trace_event_raw_sched_process_fork {
	int child_pid;
};

struct trace_event_raw_cap_capable {
	int cap;
	int ret;
};

/* Older kernels have only `pid`: the host reads what exists. */
struct trace_event_raw_mark_victim {
	int pid;
	unsigned int __data_loc_comm;
	unsigned long total_vm;
	unsigned long anon_rss;
	unsigned long file_rss;
	unsigned long shmem_rss;
	unsigned int uid;
	short oom_score_adj;
};

struct trace_event_raw_inet_sock_set_state {
	const void *skaddr;
	int oldstate;
	int newstate;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 protocol;
	__u8 saddr[4];
	__u8 daddr[4];
	__u8 saddr_v6[16];
	__u8 daddr_v6[16];
};

/* From a file descriptor to its socket (tcp accept) or its file system. */
struct file_system_type {
	const char *name;
};

struct super_block {
	struct file_system_type *s_type;
};

struct inode {
	struct super_block *i_sb;
};

struct file {
	void *private_data;
	struct inode *f_inode;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct in6_addr {
	__u8 u6_addr8[16];
};

struct sock_common {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u16 skc_dport;    /* network order */
	__u16 skc_num;      /* host order */
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u32 sk_ack_backlog;
	__u32 sk_max_ack_backlog;
};

struct socket {
	struct sock *sk;
};

/* skb:kfree_skb; `reason` exists since 5.17. CO-RE matches an enum field
 * only with an enum, whatever its values. */
enum skb_drop_reason {
	SKB_DROP_REASON_NOT_SPECIFIED = 2,
};

struct trace_event_raw_kfree_skb {
	void *skbaddr;
	unsigned short protocol;
	enum skb_drop_reason reason;
};

struct sk_buff {
	unsigned char *head;
	__u16 transport_header;
	__u16 network_header;
};

struct trace_event_raw_block_bio {
	unsigned int dev;
	unsigned long long sector;
	unsigned int nr_sector;
	char rwbs[10];
};

/* Block requests. The disk hangs off the queue since 5.15; before, off the
 * request (request___o). */
struct gendisk {
	int major;
	int first_minor;
	char disk_name[32];
};

struct request_queue {
	struct gendisk *disk;
};

struct request {
	struct request_queue *q;
	unsigned int cmd_flags; /* the op in the low 8 bits, then req_flag_bits */
	unsigned int __data_len;
	unsigned long long __sector;
};

struct request___o {
	struct gendisk *rq_disk;
};

/* The request flags' bit numbers move between kernels: CO-RE reads each
 * one's from the running kernel's BTF (bpf_core_enum_value). */
enum req_flag_bits {
	__REQ_SYNC = 11,
	__REQ_META,
	__REQ_FUA = 17,
	__REQ_PREFLUSH,
	__REQ_RAHEAD,
};

/* writeback:writeback_start and writeback_written (one event class). */
struct trace_event_raw_writeback_work_class {
	char name[32];
	long nr_pages;
	unsigned int sb_dev;
	int sync_mode;
	int for_kupdate;
	int range_cyclic;
	int for_background;
	int reason;
};

/* Why the kernel writes back: the values move between kernels (CO-RE reads
 * each by name); LAPTOP_TIMER went in 6.x, FOREIGN_FLUSH came in 5.x. */
enum wb_reason {
	WB_REASON_BACKGROUND,
	WB_REASON_VMSCAN,
	WB_REASON_SYNC,
	WB_REASON_PERIODIC,
	WB_REASON_LAPTOP_TIMER,
	WB_REASON_FS_FREE_SPACE,
	WB_REASON_FORKER_THREAD,
	WB_REASON_FOREIGN_FLUSH,
};

/* A CPU's run queue, reached from the current task's CFS queue (its
 * `rq` exists with group scheduling, which distro kernels have); the CFS
 * queue's own count was `nr_running` before 6.14. */
struct rq {
	unsigned int nr_running;
};

struct cfs_rq {
	unsigned int nr_queued;
	struct rq *rq;
};

struct cfs_rq___o {
	unsigned int nr_running;
};

struct sched_entity {
	struct cfs_rq *cfs_rq;
};

struct task_struct___se {
	struct sched_entity se;
};

struct tcp_sock {
	__u64 bytes_received;
	__u64 bytes_acked;
};

struct trace_event_raw_sys_exit {
	unsigned long long common;
	long id;
	long ret;
};

/* The user registers saved at syscall entry, which still hold the syscall's
 * arguments at its exit (the return value goes elsewhere). */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long di;
	unsigned long si;
	unsigned long dx;
	unsigned long cx;
	unsigned long r10;
	unsigned long ax;
};
/* A user function's arguments and return value, for uprobes. */
#define FUNC_ARG1(regs) BPF_CORE_READ(regs, di)
#define FUNC_ARG3(regs) BPF_CORE_READ(regs, dx)
#define FUNC_ARG4(regs) BPF_CORE_READ(regs, cx)
#define FUNC_RET(regs) BPF_CORE_READ(regs, ax)
/* bpf_task_pt_regs gives a pointer the verifier trusts: plain loads, each
 * relocated, instead of a probe-read helper call per argument (~35 ns each). */
#define SYSCALL_ARG1(regs) ((regs)->di)
#define SYSCALL_ARG2(regs) ((regs)->si)
#define SYSCALL_ARG3(regs) ((regs)->dx)
#define SYSCALL_ARG4(regs) ((regs)->r10)
#elif defined(__TARGET_ARCH_arm64)
/* x0 is overwritten by the return value; the kernel keeps it in orig_x0. */
struct user_pt_regs {
	__u64 regs[31];
};
struct pt_regs {
	struct user_pt_regs user_regs;
	__u64 orig_x0;
};
/* The parameter is not `regs`: that is also the member's name. */
#define SYSCALL_ARG1(r) ((r)->orig_x0)
#define SYSCALL_ARG2(r) ((r)->user_regs.regs[1])
#define SYSCALL_ARG3(r) ((r)->user_regs.regs[2])
#define SYSCALL_ARG4(r) ((r)->user_regs.regs[3])
#define FUNC_ARG1(r) BPF_CORE_READ(r, user_regs.regs[0])
#define FUNC_ARG3(r) BPF_CORE_READ(r, user_regs.regs[2])
#define FUNC_ARG4(r) BPF_CORE_READ(r, user_regs.regs[3])
#define FUNC_RET(r) BPF_CORE_READ(r, user_regs.regs[0])
#endif

#pragma clang attribute pop

/* syscalls/sys_enter_* and sys_exit_*: the args follow the syscall number. */
struct syscall_enter_ctx {
	unsigned long long common;
	int nr;
	int _pad;
	unsigned long args[6];
};

struct syscall_exit_ctx {
	unsigned long long common;
	int nr;
	int _pad;
	long ret;
};

struct timespec64_user {
	long long tv_sec;
	long long tv_nsec;
};

struct open_how {
	__u64 flags;
	__u64 mode;
	__u64 resolve;
};

#endif
