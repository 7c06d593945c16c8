// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Block I/O: block.io, one event per completed request, with its queue and
 * service times, as biosnoop and biolatency see them; block.writeback, one
 * per pass of the flusher over a device (below).
 *
 * A request is followed from block_rq_insert (queued for an I/O scheduler)
 * or, issued directly, from block_rq_issue, to block_rq_complete. Both
 * first hooks run in the submitter's context, so the event's header is the
 * task that submitted it, taken then, as biosnoop attributes I/O; the
 * completion runs in an interrupt, on whatever task the CPU had.
 *
 * BTF tracepoints (tp_btf): they give the request itself (its address is the
 * key; a request is reused only once it completed or was merged away), and
 * the insert and issue hooks lost their queue argument in Linux 5.11. */
#include "common.bpf.h"

/* The requests in flight, by address: the submitter's header, or only that
 * the submitter was not selected (so that a request dispatched later by a
 * kernel worker is not passed off as the worker's). An entry goes at
 * completion; a full map loses the request, counted as a drop. */
struct inflight {
	struct event_header h;
	__u64 inserted_ns; /* 0: issued directly */
	__u64 issued_ns;   /* 0: still queued */
	__u32 selected;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct inflight);
} inflight SEC(".maps");

/* A request enters: queued (inserted) or issued directly, by the current task. */
static __always_inline void begin(__u64 rq, int queued)
{
	struct inflight in = { .selected = selected(PROBE_BLOCK_IO, 0) };
	if (in.selected)
		fill_header(&in.h, PROBE_BLOCK_IO, 0);
	__u64 now = bpf_ktime_get_boot_ns();
	if (queued)
		in.inserted_ns = now;
	else
		in.issued_ns = now;
	if (bpf_map_update_elem(&inflight, &rq, &in, BPF_ANY) && in.selected)
		count_drop(PROBE_BLOCK_IO);
}

SEC("tp_btf/block_rq_insert")
int block_rq_insert(unsigned long long *ctx)
{
	begin(ctx[0], 1);
	return 0;
}

/* A queued request merged into another (block_rq_merge) is freed without
 * completing: its entry goes, so that the request's next use (which may be
 * issued directly, by another task) does not inherit it. */
SEC("tp_btf/block_rq_merge")
int block_rq_merge(unsigned long long *ctx)
{
	__u64 rq = ctx[0];
	bpf_map_delete_elem(&inflight, &rq);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int block_rq_issue(unsigned long long *ctx)
{
	__u64 rq = ctx[0];
	struct inflight *in = bpf_map_lookup_elem(&inflight, &rq);
	/* Queued, now dispatched (maybe by a kernel worker: the submitter stays). */
	if (in && !in->issued_ns) {
		in->issued_ns = bpf_ktime_get_boot_ns();
		return 0;
	}
	/* Issued directly; or issued again after a requeue, which starts over. */
	begin(rq, 0);
	return 0;
}

/* REQ_OP_* (the low 8 bits of cmd_flags): stable since Linux 4.10. */
static __always_inline __u32 block_op(__u32 cmd_flags)
{
	switch (cmd_flags & 0xff) {
	case 0:
		return WIT_BLOCK_OP_READ;
	case 1:
		return WIT_BLOCK_OP_WRITE;
	case 2:
		return WIT_BLOCK_OP_FLUSH;
	case 3:
		return WIT_BLOCK_OP_DISCARD;
	case 5:
		return WIT_BLOCK_OP_SECURE_ERASE;
	case 9:
		return WIT_BLOCK_OP_WRITE_ZEROES;
	default:
		return WIT_BLOCK_OP_OTHER;
	}
}

static __always_inline __u32 block_flags(__u32 cmd_flags)
{
	__u32 flags = 0;
	if (cmd_flags & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_SYNC)))
		flags |= BLOCK_SYNC;
	if (cmd_flags & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_META)))
		flags |= BLOCK_META;
	if (cmd_flags & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_FUA)))
		flags |= BLOCK_FUA;
	if (cmd_flags & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH)))
		flags |= BLOCK_PREFLUSH;
	if (cmd_flags & (1u << bpf_core_enum_value(enum req_flag_bits, __REQ_RAHEAD)))
		flags |= BLOCK_READAHEAD;
	return flags;
}

/* block_rq_complete(rq, error, nr_bytes): before the request is advanced, so
 * its sector and size are still the whole request's. */
SEC("tp_btf/block_rq_complete")
int block_rq_complete(unsigned long long *ctx)
{
	struct request *rq = (struct request *)ctx[0];
	__u64 key = ctx[0];
	struct inflight *in = bpf_map_lookup_elem(&inflight, &key);
	if (!in)
		return 0;
	if (!in->selected || !in->issued_ns) {
		bpf_map_delete_elem(&inflight, &key);
		return 0;
	}
	struct block_io_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop(PROBE_BLOCK_IO);
		bpf_map_delete_elem(&inflight, &key);
		return 0;
	}
	__u64 now = bpf_ktime_get_boot_ns();
	__builtin_memcpy(&e->h, &in->h, sizeof(e->h));
	e->h.ts_boot_ns = now;
	e->queued_ns = in->inserted_ns ? in->issued_ns - in->inserted_ns : 0;
	e->service_ns = now > in->issued_ns ? now - in->issued_ns : 0;
	bpf_map_delete_elem(&inflight, &key);
	__u32 cmd_flags = rq->cmd_flags;
	e->sector = rq->__sector;
	e->bytes = rq->__data_len;
	e->op = block_op(cmd_flags);
	e->flags = block_flags(cmd_flags);
	e->status = (__u8)ctx[1];
	/* Plain loads from the request the tracepoint gives (a NULL disk reads as zeros). */
	struct gendisk *disk;
	if (bpf_core_field_exists(rq->q->disk))
		disk = rq->q->disk;
	else
		disk = ((struct request___o *)rq)->rq_disk;
	e->major = disk->major;
	e->minor = disk->first_minor;
	__builtin_memcpy(e->disk, disk->disk_name, sizeof(e->disk));
	submit_event(e);
	return 0;
}

/* block.writeback: one event per pass of the flusher over a backing device,
 * writeback_start to writeback_written, as writeback.bt prints them. Both
 * fire in the same call (wb_writeback) on the same worker, so the pass is
 * keyed by that thread; the pages written are what the pass took off the
 * work's budget. */
struct pass {
	__u64 start_ns;
	long nr_pages;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct pass);
} passes SEC(".maps");

SEC("tracepoint/writeback/writeback_start")
int writeback_start(struct trace_event_raw_writeback_work_class *ctx)
{
	if (!task_selected(PROBE_BLOCK_WRITEBACK))
		return 0;
	__u32 tid = bpf_get_current_pid_tgid();
	struct pass p = { .start_ns = bpf_ktime_get_boot_ns(), .nr_pages = BPF_CORE_READ(ctx, nr_pages) };
	if (bpf_map_update_elem(&passes, &tid, &p, BPF_ANY))
		count_drop(PROBE_BLOCK_WRITEBACK);
	return 0;
}

#define WB_REASON(name, wit)                                                                        \
	if (bpf_core_enum_value_exists(enum wb_reason, name) && reason == bpf_core_enum_value(enum wb_reason, name)) \
		return wit;

static __always_inline __u32 wb_reason(int reason)
{
	WB_REASON(WB_REASON_BACKGROUND, WIT_WRITEBACK_REASON_BACKGROUND)
	WB_REASON(WB_REASON_VMSCAN, WIT_WRITEBACK_REASON_VMSCAN)
	WB_REASON(WB_REASON_SYNC, WIT_WRITEBACK_REASON_SYNC)
	WB_REASON(WB_REASON_PERIODIC, WIT_WRITEBACK_REASON_PERIODIC)
	WB_REASON(WB_REASON_LAPTOP_TIMER, WIT_WRITEBACK_REASON_LAPTOP_TIMER)
	WB_REASON(WB_REASON_FS_FREE_SPACE, WIT_WRITEBACK_REASON_FS_FREE_SPACE)
	WB_REASON(WB_REASON_FORKER_THREAD, WIT_WRITEBACK_REASON_FORKER_THREAD)
	WB_REASON(WB_REASON_FOREIGN_FLUSH, WIT_WRITEBACK_REASON_FOREIGN_FLUSH)
	return WIT_WRITEBACK_REASON_OTHER;
}

SEC("tracepoint/writeback/writeback_written")
int writeback_written(struct trace_event_raw_writeback_work_class *ctx)
{
	__u32 tid = bpf_get_current_pid_tgid();
	struct pass *p = bpf_map_lookup_elem(&passes, &tid);
	if (!p)
		return 0;
	__u64 start_ns = p->start_ns;
	long before = p->nr_pages;
	bpf_map_delete_elem(&passes, &tid);
	struct block_writeback_event *e = reserve_event(ctx, PROBE_BLOCK_WRITEBACK, sizeof(*e));
	if (!e)
		return 0;
	long after = BPF_CORE_READ(ctx, nr_pages);
	e->latency_ns = e->h.ts_boot_ns - start_ns;
	e->pages = before > after ? before - after : 0;
	e->sb_dev = BPF_CORE_READ(ctx, sb_dev);
	e->reason = wb_reason(BPF_CORE_READ(ctx, reason));
	e->sync_all = BPF_CORE_READ(ctx, sync_mode) == 1; /* WB_SYNC_ALL */
	e->background = BPF_CORE_READ(ctx, for_background) != 0;
	bpf_probe_read_kernel(e->device, sizeof(e->device), ctx->name);
	submit_event(e);
	return 0;
}
