/*
 * What the realkernel scenario programs share. Define DT_PROG (the name they print on errors)
 * before including it; it needs <errno.h>, <fcntl.h>, <stdarg.h>, <stdio.h>, <stdlib.h>,
 * <string.h>, <sys/socket.h> and <unistd.h>. Every helper is marked unused-ok: not every program
 * needs each.
 */
#ifndef DT_COMMON_H
#define DT_COMMON_H

/* print "DT_PROG[pid]: <message>: <strerror(errno)>" and exit 2 */
static __attribute__((unused)) void die(const char *fmt, ...)
{
	va_list ap;
	int e = errno;
	fprintf(stderr, DT_PROG "[%d]: ", (int)getpid());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ": %s\n", strerror(e));
	exit(2);
}

/* until a signal ends the process */
static __attribute__((unused)) void wait_forever(void)
{
	for (;;) pause();
}

/* pass `fd` over the unix socket `sock` (SCM_RIGHTS) with the int `tag` as the message */
static __attribute__((unused)) void send_fd(int sock, int fd, int tag)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &tag, sizeof tag };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	if (sendmsg(sock, &m, 0) != sizeof tag) die("sendmsg");
}

/* the fd send_fd passed (close-on-exec), its tag in *tag */
static __attribute__((unused)) int recv_fd(int sock, int *tag)
{
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { tag, sizeof *tag };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
	if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != sizeof *tag) die("recvmsg");
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS) die("no fd in message");
	int fd;
	memcpy(&fd, CMSG_DATA(c), sizeof fd);
	return fd;
}

/* the first /dev/dri/cardN that opens (vgem's, in the VM) */
static __attribute__((unused)) int open_vgem(void)
{
	int card = -1;
	char path[64];
	for (int i = 0; i < 8 && card < 0; i++) {
		snprintf(path, sizeof path, "/dev/dri/card%d", i);
		card = open(path, O_RDWR | O_CLOEXEC);
	}
	if (card < 0) die("open /dev/dri/card* (is vgem loaded?)");
	return card;
}

/* read `rfd` into acc[cap] (NUL-terminated) until `want` lines start with `word` ("ready ",
 * "end "); dies, naming `what`, if the pipe ends first */
static __attribute__((unused)) void read_lines_until(int rfd, char *acc, size_t cap, const char *word, int want,
						      const char *what)
{
	size_t len = 0;
	int got = 0;
	while (got < want) {
		ssize_t r = read(rfd, acc + len, cap - 1 - len);
		if (r <= 0) die("reading %s (%d of %d)", what, got, want);
		len += (size_t)r;
		acc[len] = 0;
		got = 0;
		for (char *p = acc; (p = strstr(p, word)); p++)
			if (p == acc || p[-1] == '\n') got++;
	}
}

#endif
