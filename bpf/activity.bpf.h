/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A labelled process's sockets, read by the sample pass (rss.bpf.c), which
 * visits each labelled leader anyway: what it received is found there, with
 * nothing on the host's receive path.
 *
 * A TCP socket dates its last data segment itself: icsk_ack.lrcvtime, the
 * tick it arrived (set at the handshake too). The newest over the process's
 * connections is its last receive, timed to a tick. No other socket keeps
 * such a record, so a process holding a UNIX or UDP socket that can receive
 * makes the pass ask for the receive hook (activity.bpf.c's
 * handle_sock_recv), which user space attaches only while one is held: on
 * this kind of machine the kernel's dispatch of any program on that
 * tracepoint costs more than the program, on every receive of every process.
 */
#ifndef MEMSHED_ACTIVITY_BPF_H
#define MEMSHED_ACTIVITY_BPF_H

#include "memshed.bpf.h"

#define AF_UNIX		1
#define AF_INET		2
#define AF_INET6	10
#define S_IFMT		00170000
#define S_IFSOCK	0140000
#define SOCK_STREAM	1
#define SOCK_DGRAM	2
#define IPPROTO_TCP	6

/* The open-fd bitmap words a pass reads per process (64 fds each): a
 * process with more descriptors than this has its first 4,096 read, and
 * asks for the receive hook for the rest. */
#define FD_WORDS_MAX	64
/* The descriptors a pass reads in all: labelled processes cannot make it
 * long (a labelled one forking children with 4,096 fds each); past this,
 * the rest is the hook's. */
#define PASS_FDS_MAX	65536
#define RCV_SHUTDOWN	1

extern __u32 recv_uncovered;	/* sockets of this pass only the receive hook sees */
extern __u32 pass_fds_left;	/* of PASS_FDS_MAX, set by the pass's first leader */
/* The kernel's tick, learned by the sample pass from jiffies against the
 * clock (no kernel config is needed to load); 0 until then, when ticks are
 * taken for 1 ms, the shortest there is: an age comes out short, never long. */
extern __u64 tick_ns;

static __always_inline __u64 ticks_ns(__u32 ticks)
{
	return (__u64)ticks * (tick_ns ? tick_ns : NS_PER_SEC / 1000);
}

/* A receive `age` ticks before `now`: newer than the component's last, it
 * becomes it. Ages past 2^30 ticks are none (a receive after the tick was
 * read). The receive hook may store a newer one meanwhile, and it stays. */
static __always_inline void recv_aged(struct memshed_comp *c, __u32 age, __u64 now)
{
	__u64 old = c->last_recv_ns, at;

	if (age >= (1u << 30) || ticks_ns(age) >= now)
		return;
	at = now - ticks_ns(age);
	if (at > old)
		__sync_val_compare_and_swap(&c->last_recv_ns, old, at);
}

/* A connection that was established: its lrcvtime is a real tick. A
 * listener's, a connecting socket's or a never-connected one's is 0, which
 * would read as a receive at the tick (u32)jiffies wrapped through 0. */
static __always_inline bool tcp_connected(__u8 state)
{
	return state != TCP_LISTEN && state != TCP_SYN_SENT && state != TCP_CLOSE;
}

/* Ticks since a TCP socket's last data segment (or its handshake). An
 * idle connection older than 2^32 ticks (198 days at 250 Hz) can read as
 * recent: that errs towards in use. */
static __always_inline __u32 tcp_recv_age(const struct sock *sk, __u32 tick)
{
	return tick - BPF_CORE_READ((const struct inet_connection_sock *)sk, icsk_ack.lrcvtime);
}

struct fd_walk {
	struct file **fd;		/* the fd table's array (not a trusted pointer) */
	unsigned long *open_fds;	/* its bitmap of open fds */
	unsigned long bits;		/* the bitmap word being walked */
	__u32 base;			/* fd number of its bit 0 */
	__u32 tick;			/* (u32)jiffies now */
	__u32 newest;			/* ticks since the newest TCP receive; ~0: none */
	__u32 uncovered;
};

/* A UNIX datagram socket without an address of its own, connected to one
 * that has (syslog's /dev/log, sd_notify): a client that only sends. */
static __always_inline bool dgram_sender(const struct sock *sk)
{
	const struct unix_sock *u = (const struct unix_sock *)sk;
	const struct unix_sock *peer = (const struct unix_sock *)BPF_CORE_READ(u, peer);

	return !BPF_CORE_READ(u, addr) && peer && BPF_CORE_READ(peer, addr);
}

/* Not shut for reading (systemd's stdout sockets are; so is a UNIX socket
 * whose peer is gone): it can still receive. */
static __always_inline bool can_receive(const struct sock *sk)
{
	return !(BPF_CORE_READ(sk, sk_shutdown) & RCV_SHUTDOWN);
}

/* One open file (untrusted pointers: read, never passed to a helper). */
static __always_inline void fd_visit(struct fd_walk *x, __u32 fd)
{
	struct file *f = NULL;
	struct socket *sock;
	struct sock *sk;
	__u16 family, type;

	bpf_probe_read_kernel(&f, sizeof(f), x->fd + fd);
	if (!f || (BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock || BPF_CORE_READ(sock, file) != f)
		return;		/* an O_PATH file of a socket's inode */
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	type = BPF_CORE_READ(sock, type);
	if (family == AF_INET || family == AF_INET6) {
		if (type != SOCK_STREAM || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) {
			x->uncovered += can_receive(sk);	/* UDP, SCTP...: no receive record */
		} else if (tcp_connected(BPF_CORE_READ(sk, __sk_common.skc_state))) {
			/* (a peer's FIN shuts it for reading too: lrcvtime stays) */
			__u32 age = tcp_recv_age(sk, x->tick);

			if (age < x->newest)
				x->newest = age;
		}
	} else if (family == AF_UNIX && !(type == SOCK_DGRAM && dgram_sender(sk))) {
		x->uncovered += can_receive(sk);
	}
	/* Netlink, packet & co.: the host talking, not a client. */
}

static int fd_bit(__u32 i, struct fd_walk *x)
{
	if (!x->bits)
		return 1;
	if (x->bits & 1) {
		if (!pass_fds_left) {
			x->uncovered++;
			x->bits = 0;
			return 1;
		}
		pass_fds_left--;
		fd_visit(x, x->base + i);
	}
	x->bits >>= 1;
	return 0;
}

static int fd_word(__u32 w, struct fd_walk *x)
{
	x->bits = 0;
	bpf_probe_read_kernel(&x->bits, sizeof(x->bits), x->open_fds + w);
	x->base = w * 64;
	bpf_loop(64, fd_bit, x, 0);
	return 0;
}

/*
 * Walk a labelled leader's open files: the newest TCP receive becomes the
 * component's last receive (if newer: the receive hook may have marked a
 * later one), and sockets without a record are counted for the hook.
 */
static __always_inline void sockets_sample(struct task_struct *task, __u32 comp_id,
					   __u64 now_ns, __u32 tick)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct fd_walk x = { .tick = tick, .newest = ~0u };
	struct memshed_comp *c;
	__u32 words;

	if (!fdt) {
		/* A leader that left with pthread_exit has no files, its
		 * threads do: the hook sees their receives. */
		if (BPF_CORE_READ(task, signal, live.counter) > 0)
			recv_uncovered++;
		return;
	}
	x.fd = BPF_CORE_READ(fdt, fd);
	x.open_fds = BPF_CORE_READ(fdt, open_fds);
	words = BPF_CORE_READ(fdt, max_fds) / 64;
	if (words > FD_WORDS_MAX) {
		words = FD_WORDS_MAX;
		x.uncovered++;		/* the rest: the hook's */
	}
	bpf_loop(words, fd_word, &x, 0);
	recv_uncovered += x.uncovered;
	c = comp_of(comp_id);
	if (c)
		recv_aged(c, x.newest, now_ns);
}

#endif /* MEMSHED_ACTIVITY_BPF_H */
