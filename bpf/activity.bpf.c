// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What makes a component *used*, seen in the kernel: one of its processes
 * received data on a socket, or a connection arrived at one of its
 * listening sockets. (CPU use is judged in the sample pass, rss.bpf.c.)
 * TCP receives are read off the sockets by the sample pass (activity.bpf.h),
 * and off a connection its process closes in between (handle_sock_state);
 * the receive hook below, for UNIX and UDP sockets, is attached only while
 * a labelled process holds one. There, a receive by a process with no task
 * storage at all costs two loads; the rest look a thread up in a per-CPU
 * record of the last two, and look its label up once per tick.
 *
 * Sockets are found by mark_sockets, a task_file iterator the daemon runs
 * after labelling: it keys each listening TCP socket of a labelled process
 * by (network namespace, local port) and, before a component hibernates,
 * each established one by its 4-tuple. A new connection or arriving data
 * is seen in softirq context, where no task of the component runs, by
 * those keys: an access, and for a hibernated component a knock that
 * wakes the daemon to thaw it. The data probe (tcp_probe runs for every
 * segment received) is attached only while something is hibernated.
 */
#include "activity.bpf.h"

#define MSG_PEEK	2

__u32 recv_uncovered = 0;	/* zeroed by user space before each sample pass */
__u64 tick_ns = 0;
__u32 pass_fds_left = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct memshed_listener_key);
	__type(value, __u32);			/* comp_id */
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct memshed_conn_key);
	__type(value, __u32);			/* comp_id */
} conns SEC(".maps");

__u32 mark_conns = 0;	/* 1: mark_sockets records established connections too */
/* The local ports of the connections in conns, one bit each (user space
 * clears them before marking): tcp_probe sees every segment the host
 * receives, and this lets it drop an unrelated one after one field read,
 * before the 4-tuple key and its hash lookup. */
__u64 conn_ports[65536 / 64] = {};

/* A hibernated component was reached: tell the daemon, once per hibernation. */
static __always_inline void knock(__u32 comp_id, struct memshed_comp *c, const struct sock *sk,
				  __u32 kind)
{
	struct memshed_event *e;

	if (!(c->flags & MEMSHED_COMP_HIBERNATED) ||
	    (__sync_fetch_and_or(&c->flags, MEMSHED_COMP_KNOCKED) & MEMSHED_COMP_KNOCKED))
		return;
	e = event_reserve(MEMSHED_EV_KNOCK, bpf_get_current_task_btf(), comp_id);
	if (!e)
		return;
	e->knock.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	e->knock.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	e->knock.kind = kind;
	bpf_ringbuf_submit(e, 0);
}

/*
 * An access, timed at most once per clock tick and component: the tick
 * (bpf_jiffies64, a plain load) is compared first, and only when it moved
 * is the clock read (bpf_ktime_get_ns: a clocksource read, about a sixth
 * of the labelled receive path on kvm-clock) and the shared cache line
 * written. A busy server's receives in between cost a read.
 * (bpf_ktime_get_coarse_ns would do, but tracing programs may not call it.)
 */
static __always_inline void mark_access(__u64 *last_ns, __u64 *last_tick)
{
	__u64 tick = bpf_jiffies64();

	if (*last_tick == tick)
		return;
	*last_tick = tick;
	*last_ns = bpf_ktime_get_ns();
}

/*
 * Per CPU, the last two threads whose receive was accounted in a tick
 * (marked, or found unlabelled): their further receives in that tick
 * would change nothing, and skip the label lookup (a task-storage hit
 * costs more than all the rest of this program). A label given or taken
 * meanwhile counts from the next tick; an access is timed to a tick anyway.
 */
struct recv_seen {
	__u32 tid[2];
	__u32 next;		/* the slot to give to a new thread */
	__u64 tick[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct recv_seen);
} recv_seen SEC(".maps");

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_sock_recv, struct sock *sk, int ret, int flags)
{
	struct task_struct *task;
	struct memshed_comp *c;
	struct recv_seen *s;
	__u64 tick;
	__u32 zero = 0, tid, i;
	__u16 family;

	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;	/* nothing received (EAGAIN, EOF), or a peek */
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
		return 0;	/* netlink & co. are the host talking, not a client */
	task = bpf_get_current_task_btf();
	if (!task->group_leader->bpf_storage)
		return 0;	/* no task storage of any map: not labelled */
	s = bpf_map_lookup_elem(&recv_seen, &zero);
	if (!s)
		return 0;
	tid = task->pid;
	tick = bpf_jiffies64();
	if (s->tid[0] == tid)
		i = 0;
	else if (s->tid[1] == tid)
		i = 1;
	else
		i = s->next & 1;
	if (s->tid[i] == tid && s->tick[i] == tick)
		return 0;
	c = comp_of(comp_id_of(task));
	if (c)
		mark_access(&c->last_recv_ns, &c->recv_tick);
	s->tid[i] = tid;
	s->tick[i] = tick;
	s->next = i ^ 1;
	return 0;
}

static __always_inline struct memshed_listener_key listener_key(const struct sock *sk)
{
	struct memshed_listener_key k = {};

	k.net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net);
	k.port = BPF_CORE_READ(sk, __sk_common.skc_num);
	k.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return k;
}

/* A process closes a connection (FIN_WAIT1 and LAST_ACK are entered from
 * close() or shutdown(), in its own context): what it received is read off
 * the socket now, as the next pass would have, had it stayed open. */
static __always_inline void closing(const struct sock *sk)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct memshed_comp *c;

	if (!task->group_leader->bpf_storage)
		return;
	c = comp_of(comp_id_of(task));
	if (c)
		recv_aged(c, tcp_recv_age(sk, (__u32)bpf_jiffies64()), bpf_ktime_get_ns());
}

/* A passive open completed: the new socket (a child of the listener) has
 * the listener's namespace and local port. Or a process closed one. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_sock_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct memshed_listener_key k;
	struct memshed_comp *c;
	__u32 *comp_id;

	if ((oldstate == TCP_ESTABLISHED || oldstate == TCP_CLOSE_WAIT) &&
	    (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK)) {
		closing(sk);
		return 0;
	}
	if (oldstate != TCP_SYN_RECV || newstate != TCP_ESTABLISHED)
		return 0;
	k = listener_key(sk);
	comp_id = bpf_map_lookup_elem(&listeners, &k);
	c = comp_id ? comp_of(*comp_id) : NULL;
	if (!c)
		return 0;
	mark_access(&c->last_accept_ns, &c->accept_tick);
	knock(*comp_id, c, sk, MEMSHED_KNOCK_CONNECT);
	return 0;
}

static __always_inline struct memshed_conn_key conn_key(const struct sock *sk)
{
	struct memshed_conn_key k = {};

	k.net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net);
	k.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	k.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	k.dport = BPF_CORE_READ(sk, __sk_common.skc_dport);
	if (k.family == AF_INET6) {
		BPF_CORE_READ_INTO(&k.saddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&k.daddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	} else {
		BPF_CORE_READ_INTO((__u32 *)k.saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO((__u32 *)k.daddr, sk, __sk_common.skc_daddr);
	}
	return k;
}

/* Does the segment carry data? skb->data is at the TCP header here; its
 * length is the data offset (the high nibble of byte 12) in words. An ACK
 * or a FIN alone (a client closing an idle connection) is no request. */
static __always_inline bool has_payload(const struct sk_buff *skb)
{
	unsigned char *th = BPF_CORE_READ(skb, head) + BPF_CORE_READ(skb, transport_header);
	__u8 doff = 0;

	if (bpf_probe_read_kernel(&doff, sizeof(doff), th + 12))
		return true;	/* unreadable: better a thaw than a lost request */
	return BPF_CORE_READ(skb, len) > (__u32)(doff >> 4) * 4;
}

/* Data for an established connection (attached only while a component is
 * hibernated: this runs for every TCP segment the host receives). */
SEC("tp_btf/tcp_probe")
int BPF_PROG(handle_tcp_probe, struct sock *sk, const struct sk_buff *skb)
{
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
	struct memshed_conn_key k;
	struct memshed_comp *c;
	__u32 *comp_id;

	if (!(conn_ports[port >> 6] & (1ull << (port & 63))))
		return 0;
	k = conn_key(sk);
	comp_id = bpf_map_lookup_elem(&conns, &k);
	c = comp_id ? comp_of(*comp_id) : NULL;
	if (c && has_payload(skb))
		knock(*comp_id, c, sk, MEMSHED_KNOCK_DATA);
	return 0;
}

/* For each open file of each labelled process: a listening TCP socket is
 * keyed to its component, and with mark_conns an established one too.
 * (Untrusted pointers are read, never passed to a helper.) */
SEC("iter/task_file")
int mark_sockets(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct memshed_listener_key k;
	struct memshed_task_label *l;
	struct socket *sock;
	struct sock *sk;
	__u16 family;
	__u8 state;

	if (!task || !file || task->pid != task->tgid)
		return 0;
	l = bpf_task_storage_get(&task_labels, task, 0, 0);
	if (!l)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sock, type) != 1 /* SOCK_STREAM */)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (state == TCP_LISTEN) {
		k = listener_key(sk);
		bpf_map_update_elem(&listeners, &k, &l->comp_id, BPF_ANY);
	} else if (state == TCP_ESTABLISHED && mark_conns) {
		struct memshed_conn_key ck = conn_key(sk);

		bpf_map_update_elem(&conns, &ck, &l->comp_id, BPF_ANY);
		__sync_fetch_and_or(&conn_ports[ck.sport >> 6], 1ull << (ck.sport & 63));
	}
	return 0;
}
