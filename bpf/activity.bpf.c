// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * What makes a component *used*, seen in the kernel: one of its processes
 * received data on a socket, or a connection arrived at one of its
 * listening sockets. (CPU use is judged in the sample pass, rss.bpf.c.)
 * Unlabelled tasks pay one task-storage lookup per receive.
 *
 * Listeners are found by mark_listeners, a task_file iterator the daemon
 * runs after labelling: it keys each listening TCP socket of a labelled
 * process by (network namespace, local port). A new connection is seen in
 * softirq context, where no task of the component runs, by that key.
 */
#include "memshed.bpf.h"

#define AF_UNIX		1
#define AF_INET		2
#define AF_INET6	10
#define MSG_PEEK	2

/* Don't write a shared cache line on every receive of a busy server. */
#define ACCESS_RESOLUTION_NS	(10 * 1000 * 1000)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct memshed_listener_key);
	__type(value, __u32);			/* comp_id */
} listeners SEC(".maps");

static __always_inline void mark_access(__u64 *last)
{
	__u64 now = bpf_ktime_get_ns();

	if (now - *last > ACCESS_RESOLUTION_NS)
		*last = now;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(handle_sock_recv, struct sock *sk, int ret, int flags)
{
	struct task_struct *task;
	struct memshed_comp *c;
	__u16 family;

	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;	/* nothing received (EAGAIN, EOF), or a peek */
	task = bpf_get_current_task_btf();
	c = comp_of(comp_id_of(task));
	if (!c)
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
		return 0;	/* netlink & co. are the host talking, not a client */
	mark_access(&c->last_recv_ns);
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

/* A passive open completed: the new socket (a child of the listener) has
 * the listener's namespace and local port. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(handle_sock_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct memshed_listener_key k;
	struct memshed_comp *c;
	__u32 *comp_id;

	if (oldstate != TCP_SYN_RECV || newstate != TCP_ESTABLISHED)
		return 0;
	k = listener_key(sk);
	comp_id = bpf_map_lookup_elem(&listeners, &k);
	c = comp_id ? comp_of(*comp_id) : NULL;
	if (c)
		mark_access(&c->last_accept_ns);
	return 0;
}

/* For each open file of each labelled process: a listening TCP socket is
 * keyed to its component. (Untrusted pointers are read, never passed.) */
SEC("iter/task_file")
int mark_listeners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct memshed_listener_key k;
	struct memshed_task_label *l;
	struct socket *sock;
	struct sock *sk;

	if (!task || !file || task->pid != task->tgid)
		return 0;
	l = bpf_task_storage_get(&task_labels, task, 0, 0);
	if (!l)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_LISTEN)
		return 0;
	k = listener_key(sk);
	if (k.family != AF_INET && k.family != AF_INET6)
		return 0;
	bpf_map_update_elem(&listeners, &k, &l->comp_id, BPF_ANY);
	return 0;
}
