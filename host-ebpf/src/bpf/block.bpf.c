// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Block I/O: block.io, one event per completed request, with its queue and
 * service times, as biosnoop and biolatency see them.
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
