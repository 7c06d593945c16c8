// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* net.tcp.connect, net.tcp.life and net.tcp.retransmit, from the stable
 * sock:inet_sock_set_state and tcp:tcp_retransmit_skb tracepoints, and
 * net.tcp.accept from accept()'s return, net.tcp.drop from skb:kfree_skb
 * (the bpftrace tools used kprobes). State changes after the first often run in
 * softirq context, so the task that owns a connection is remembered when it
 * is known: at connect(), and when it closes the socket. */
#include "common.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10

/* A connection seen from its start, per socket address. LRU maps: an entry
 * whose end the kernel skipped (a tracepoint that fired while another eBPF
 * program ran on that CPU) is evicted in time instead of filling the map. */
struct seen {
	struct event_header owner; /* valid when owner.pid != 0 */
	__u64 start_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct seen);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct seen);
} living SEC(".maps");

#define FILL_ENDS(ends, ctx)                                                                  \
	do {                                                                                  \
		(ends)->family = BPF_CORE_READ(ctx, family);                                  \
		(ends)->sport = BPF_CORE_READ(ctx, sport);                                    \
		(ends)->dport = BPF_CORE_READ(ctx, dport);                                    \
		(ends)->_pad = 0;                                                             \
		__builtin_memset((ends)->saddr, 0, sizeof((ends)->saddr));                    \
		__builtin_memset((ends)->daddr, 0, sizeof((ends)->daddr));                    \
		if ((ends)->family == AF_INET6) {                                             \
			BPF_CORE_READ_INTO(&(ends)->saddr, ctx, saddr_v6);                    \
			BPF_CORE_READ_INTO(&(ends)->daddr, ctx, daddr_v6);                    \
		} else {                                                                      \
			bpf_probe_read_kernel((ends)->saddr, 4, (void *)(ctx)->saddr);        \
			bpf_probe_read_kernel((ends)->daddr, 4, (void *)(ctx)->daddr);        \
		}                                                                             \
	} while (0)

/* A record whose header is a remembered task's, stamped now. */
static __always_inline void *reserve_for(__u32 probe, __u64 size, const struct event_header *owner)
{
	struct event_header *h = bpf_ringbuf_reserve(&events, size, 0);
	if (!h) {
		count_drop(probe);
		return 0;
	}
	*h = *owner;
	h->probe = probe;
	h->ts_boot_ns = bpf_ktime_get_boot_ns();
	h->cpu = bpf_get_smp_processor_id();
	return h;
}

/* net.tcp.connect: remembered at SYN sent (in connect()), sent when the
 * handshake ends, once the local port is known. */
SEC("tracepoint/sock/inet_sock_set_state")
int net_tcp_connect_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (BPF_CORE_READ(ctx, protocol) != IPPROTO_TCP)
		return 0;
	__u64 sk = (__u64)BPF_CORE_READ(ctx, skaddr);
	int old = BPF_CORE_READ(ctx, oldstate), new = BPF_CORE_READ(ctx, newstate);
	if (new == TCP_SYN_SENT) {
		if (!task_selected(PROBE_NET_TCP_CONNECT))
			return 0;
		struct seen seen = {};
		fill_header(&seen.owner, PROBE_NET_TCP_CONNECT, 0);
		seen.start_ns = seen.owner.ts_boot_ns;
		bpf_map_update_elem(&connecting, &sk, &seen, BPF_ANY);
		return 0;
	}
	if (old != TCP_SYN_SENT)
		return 0;
	struct seen *seen = bpf_map_lookup_elem(&connecting, &sk);
	if (!seen)
		return 0;
	struct net_tcp_connect_event *e = reserve_for(PROBE_NET_TCP_CONNECT, sizeof(*e), &seen->owner);
	if (e) {
		FILL_ENDS(&e->ends, ctx);
		e->latency_ns = e->h.ts_boot_ns - seen->start_ns;
		e->established = new == TCP_ESTABLISHED;
		e->_pad = 0;
		submit_event(e);
	}
	bpf_map_delete_elem(&connecting, &sk);
	return 0;
}

/* net.tcp.syn-backlog: a handshake completed on a listener. The new
 * socket is a copy of the listener made just before this state change
 * (inet_csk_clone_lock), so it goes from LISTEN to SYN_RECV and still holds
 * the listener's backlog. */
SEC("tracepoint/sock/inet_sock_set_state")
int net_tcp_syn_backlog_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (BPF_CORE_READ(ctx, protocol) != IPPROTO_TCP || BPF_CORE_READ(ctx, newstate) != TCP_SYN_RECV ||
	    BPF_CORE_READ(ctx, oldstate) != TCP_LISTEN || !task_selected(PROBE_NET_TCP_SYN_BACKLOG))
		return 0;
	struct sock *sk = (struct sock *)BPF_CORE_READ(ctx, skaddr);
	struct net_tcp_backlog_event *e = reserve_event(ctx, PROBE_NET_TCP_SYN_BACKLOG, sizeof(*e));
	if (!e)
		return 0;
	FILL_ENDS(&e->ends, ctx);
	e->backlog = BPF_CORE_READ(sk, sk_ack_backlog);
	e->max_backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
	submit_event(e);
	return 0;
}

/* net.tcp.life: from SYN (sent or received) to close, with the bytes the
 * socket counted; the owner is the task at connect() or at close(). */
SEC("tracepoint/sock/inet_sock_set_state")
int net_tcp_life_state(struct trace_event_raw_inet_sock_set_state *ctx)
{
	if (BPF_CORE_READ(ctx, protocol) != IPPROTO_TCP)
		return 0;
	__u64 sk = (__u64)BPF_CORE_READ(ctx, skaddr);
	int new = BPF_CORE_READ(ctx, newstate);
	if (new == TCP_SYN_SENT || new == TCP_SYN_RECV) {
		struct seen seen = {.start_ns = bpf_ktime_get_boot_ns()};
		if (new == TCP_SYN_SENT && task_selected(PROBE_NET_TCP_LIFE))
			fill_header(&seen.owner, PROBE_NET_TCP_LIFE, 0);
		bpf_map_update_elem(&living, &sk, &seen, BPF_ANY);
		return 0;
	}
	struct seen *seen = bpf_map_lookup_elem(&living, &sk);
	if (!seen)
		return 0;
	if (new == TCP_FIN_WAIT1 || new == TCP_LAST_ACK) {
		/* close() or shutdown() by the owner, in its own context. */
		if (!seen->owner.pid && task_selected(PROBE_NET_TCP_LIFE))
			fill_header(&seen->owner, PROBE_NET_TCP_LIFE, 0);
		return 0;
	}
	if (new != TCP_CLOSE)
		return 0;
	if (seen->owner.pid) {
		struct net_tcp_life_event *e = reserve_for(PROBE_NET_TCP_LIFE, sizeof(*e), &seen->owner);
		if (e) {
			FILL_ENDS(&e->ends, ctx);
			e->duration_ns = e->h.ts_boot_ns - seen->start_ns;
			struct tcp_sock *tp = (struct tcp_sock *)sk;
			e->rx_bytes = BPF_CORE_READ(tp, bytes_received);
			e->tx_bytes = BPF_CORE_READ(tp, bytes_acked);
			submit_event(e);
		}
	}
	bpf_map_delete_elem(&living, &sk);
	return 0;
}

/* The socket behind one of the current task's file descriptors. */
static __always_inline struct sock *fd_sock(long fd)
{
	struct file *file = fd_file(fd);
	if (!file)
		return 0;
	struct socket *socket = BPF_CORE_READ(file, private_data);
	return socket ? BPF_CORE_READ(socket, sk) : 0;
}

/* A TCP socket's two ends; its family, or 0 when it is not IPv4 or IPv6. */
static __always_inline __u16 sock_ends(struct tcp_ends *ends, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__builtin_memset(ends, 0, sizeof(*ends));
	ends->family = family;
	ends->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	ends->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET6) {
		BPF_CORE_READ_INTO(&ends->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&ends->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		BPF_CORE_READ_INTO((__u32 *)ends->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)ends->daddr, sk, __sk_common.skc_daddr);
	}
	return family;
}

/* net.tcp.retransmit: a segment was sent again (timers run it, so the
 * header is whatever task the CPU was running). A BTF tracepoint: it runs
 * in softirq, often interrupting another tracing program, and the kernel
 * skips a classic tracepoint's program then; a BTF one only when it would
 * interrupt itself. Its first argument is the socket. */
SEC("tp_btf/tcp_retransmit_skb")
int net_tcp_retransmit(unsigned long long *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct tcp_ends ends;
	if (!sock_ends(&ends, sk) || !task_selected(PROBE_NET_TCP_RETRANSMIT))
		return 0;
	struct net_tcp_retransmit_event *e = reserve_event(ctx, PROBE_NET_TCP_RETRANSMIT, sizeof(*e));
	if (!e)
		return 0;
	e->ends = ends;
	e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	e->_pad = 0;
	submit_event(e);
	return 0;
}

/* net.tcp.accept: at accept()'s return, from the new socket (the client and
 * the local address) and the listening one (its backlog). */
static __always_inline int accept_exit(void *ctx, long listen_fd, long ret)
{
	if (ret < 0 || !task_selected(PROBE_NET_TCP_ACCEPT))
		return 0;
	struct sock *sk = fd_sock(ret);
	struct tcp_ends ends;
	if (!sk || !sock_ends(&ends, sk))
		return 0;
	struct net_tcp_backlog_event *e = reserve_event(ctx, PROBE_NET_TCP_ACCEPT, sizeof(*e));
	if (!e)
		return 0;
	e->ends = ends;
	struct sock *listener = fd_sock(listen_fd);
	e->backlog = listener ? BPF_CORE_READ(listener, sk_ack_backlog) : 0;
	e->max_backlog = listener ? BPF_CORE_READ(listener, sk_max_ack_backlog) : 0;
	submit_event(e);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int net_tcp_accept4_exit(struct syscall_exit_ctx *ctx)
{
	return accept_exit(ctx, SYSCALL_ARG1(syscall_regs()), ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int net_tcp_accept_exit(struct syscall_exit_ctx *ctx)
{
	return accept_exit(ctx, SYSCALL_ARG1(syscall_regs()), ctx->ret);
}

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* net.tcp.drop: the kernel dropped a TCP packet, with its reason. The
 * addresses and ports come from the packet's own headers. */
SEC("tracepoint/skb/kfree_skb")
int net_tcp_drop(struct trace_event_raw_kfree_skb *ctx)
{
	__u16 protocol = BPF_CORE_READ(ctx, protocol);
	if (protocol != ETH_P_IP && protocol != ETH_P_IPV6)
		return 0;
	struct sk_buff *skb = BPF_CORE_READ(ctx, skbaddr);
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 th = BPF_CORE_READ(skb, transport_header);
	unsigned char *ip = head + nh;
	struct tcp_ends ends = {};
	__u8 l4 = 0, vihl = 0;
	if (protocol == ETH_P_IP) {
		if (bpf_probe_read_kernel(&vihl, 1, ip) || bpf_probe_read_kernel(&l4, 1, ip + 9))
			return 0;
		ends.family = AF_INET;
		bpf_probe_read_kernel(ends.saddr, 4, ip + 12);
		bpf_probe_read_kernel(ends.daddr, 4, ip + 16);
		if (th == (__u16)~0)
			th = nh + (vihl & 0xf) * 4;
	} else {
		if (bpf_probe_read_kernel(&l4, 1, ip + 6))
			return 0;
		ends.family = AF_INET6;
		bpf_probe_read_kernel(ends.saddr, 16, ip + 8);
		bpf_probe_read_kernel(ends.daddr, 16, ip + 24);
		if (th == (__u16)~0)
			th = nh + 40;
	}
	if (l4 != IPPROTO_TCP || !task_selected(PROBE_NET_TCP_DROP))
		return 0;
	__u16 ports[2];
	__u8 flags = 0;
	if (bpf_probe_read_kernel(ports, sizeof(ports), head + th) || bpf_probe_read_kernel(&flags, 1, head + th + 13))
		return 0;
	struct net_tcp_drop_event *e = reserve_event(ctx, PROBE_NET_TCP_DROP, sizeof(*e));
	if (!e)
		return 0;
	ends.sport = bpf_ntohs(ports[0]);
	ends.dport = bpf_ntohs(ports[1]);
	e->ends = ends;
	e->reason = bpf_core_field_exists(ctx->reason) ? BPF_CORE_READ(ctx, reason) : 0;
	e->tcp_flags = flags;
	__builtin_memset(e->_pad, 0, sizeof(e->_pad));
	submit_event(e);
	return 0;
}
