/*
 * droidtrack realkernel lifetime workload: what `droidtrack trace` must derive from the kernel's
 * dma_buf tracepoints (Linux 7.0+), done for real while the trace runs. It writes a log of its own
 * calls and their results (fstat inodes, the fds the kernel returned, pids) as JSON; it never
 * reads tracefs or /proc.
 *
 *   dt_lifetimes --out FILE [--no-vgem] [--many N]
 *
 * The parent (comm "dt_lifetimes") and one child (comm "wl-9 child": a space, a dash and digits,
 * as a hostile comm would have):
 *   A  system heap 16 KiB  parent allocates (export + fd); maps it whole; with vgem, imports it
 *                          (PRIME fd->handle: get, attach) and closes the handle (detach, put)
 *   B  system heap 8 KiB   child allocates; maps it; passes it to the parent by SCM_RIGHTS (no
 *                          event: SCM_RIGHTS does not go through dma_buf_fd); the child exits;
 *                          the parent maps it twice and closes it
 *   U  udmabuf 16 KiB      parent (export + fd), never mapped
 *   G  vgem dumb, exported with PRIME (export, fd); with vgem only
 * The log: {"kernel", "vgem", "buffers": [{id, inode, size, exporter}], "actions": [{do, buf,
 * pid, fd?, dev?}]} where do is export|fd|map|get|put|attach|detach|exit (exit: buf null).
 * --many N instead: N heap buffers of 4 KiB (M0, M1, ...), each fd closed at once, to overrun a
 * small trace buffer; the log has their export and fd actions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/udmabuf.h>

/* DRM uapi (include/uapi/drm/drm.h, drm_mode.h); Debian ships these only in libdrm-dev */
struct lt_prime { uint32_t handle; uint32_t flags; int32_t fd; };
struct lt_dumb { uint32_t height, width, bpp, flags; uint32_t handle, pitch; uint64_t size; };
struct lt_gem_close { uint32_t handle, pad; };
#define LT_PRIME_HANDLE_TO_FD _IOWR('d', 0x2d, struct lt_prime)
#define LT_PRIME_FD_TO_HANDLE _IOWR('d', 0x2e, struct lt_prime)
#define LT_CREATE_DUMB _IOWR('d', 0xB2, struct lt_dumb)
#define LT_GEM_CLOSE _IOW('d', 0x09, struct lt_gem_close)

#define DT_PROG "dt_lifetimes"
#include "dt_common.h"

static FILE *logf_;
static int first_action = 1;

/* one action, as a JSON object on its own line (the parent writes every line) */
static void act(const char *what, const char *buf, int pid, int fd, const char *dev)
{
	fprintf(logf_, "%s    {\"do\": \"%s\", \"buf\": ", first_action ? "" : ",\n", what);
	first_action = 0;
	if (buf) fprintf(logf_, "\"%s\"", buf); else fprintf(logf_, "null");
	fprintf(logf_, ", \"pid\": %d", pid);
	if (fd >= 0) fprintf(logf_, ", \"fd\": %d", fd);
	if (dev) fprintf(logf_, ", \"dev\": \"%s\"", dev);
	fprintf(logf_, "}");
}

static unsigned long inode_of(int fd)
{
	struct stat st;
	if (fstat(fd, &st)) die("fstat");
	return (unsigned long)st.st_ino;
}

static int heap_alloc(unsigned long size)
{
	int h = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (h < 0) die("open /dev/dma_heap/system");
	struct dma_heap_allocation_data a = { .len = size, .fd_flags = O_RDWR | O_CLOEXEC };
	if (ioctl(h, DMA_HEAP_IOCTL_ALLOC, &a)) die("DMA_HEAP_IOCTL_ALLOC %lu", size);
	close(h);
	return (int)a.fd;
}

static void map_once(int fd, unsigned long size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) die("mmap");
	memset(p, 0x5a, size);
	if (munmap(p, size)) die("munmap");
}

struct buf { const char *id; unsigned long ino, size; const char *exporter; };

/* --many N: N 4 KiB heap buffers as fast as the kernel gives them, each fd closed at once (its
 * buffer freed): enough events to overrun a small trace buffer */
static void many(int n)
{
	unsigned long *ino = calloc((size_t)n, sizeof *ino);
	int me = (int)getpid();
	char id[16];
	if (!ino) die("calloc");
	for (int i = 0; i < n; i++) {
		int fd = heap_alloc(4096);
		ino[i] = inode_of(fd);
		snprintf(id, sizeof id, "M%d", i);
		act("export", id, me, -1, NULL);
		act("fd", id, me, fd, NULL);
		close(fd);
	}
	struct utsname un;
	uname(&un);
	fprintf(logf_, "\n  ],\n  \"kernel\": \"%s\",\n  \"vgem\": false,\n  \"buffers\": [\n", un.release);
	for (int i = 0; i < n; i++)
		fprintf(logf_, "    {\"id\": \"M%d\", \"inode\": %lu, \"size\": 4096, \"exporter\": \"system\"}%s\n",
			i, ino[i], i + 1 < n ? "," : "");
	fprintf(logf_, "  ]\n}\n");
	free(ino);
}

int main(int argc, char **argv)
{
	const char *out = NULL;
	int vgem = 1, nmany = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
		else if (!strcmp(argv[i], "--no-vgem")) vgem = 0;
		else if (!strcmp(argv[i], "--many") && i + 1 < argc) nmany = atoi(argv[++i]);
		else { fprintf(stderr, "usage: dt_lifetimes --out FILE [--no-vgem] [--many N]\n"); return 64; }
	}
	if (!out) { fprintf(stderr, "usage: dt_lifetimes --out FILE [--no-vgem] [--many N]\n"); return 64; }
	char tmp[512];
	snprintf(tmp, sizeof tmp, "%s.part", out);
	logf_ = fopen(tmp, "w");
	if (!logf_) die("fopen %s", tmp);
	prctl(PR_SET_NAME, "dt_lifetimes");
	if (nmany > 0) {
		fprintf(logf_, "{\n  \"actions\": [\n");
		many(nmany);
		if (fclose(logf_)) die("fclose");
		if (rename(tmp, out)) die("rename");
		return 0;
	}
	struct buf bufs[4];
	int nb = 0;
	int me = (int)getpid();
	fprintf(logf_, "{\n  \"actions\": [\n");

	/* A: parent, heap, mapped whole */
	int a = heap_alloc(16384);
	bufs[nb++] = (struct buf){ "A", inode_of(a), 16384, "system" };
	act("export", "A", me, -1, NULL);
	act("fd", "A", me, a, NULL);
	map_once(a, 16384);
	act("map", "A", me, -1, NULL);

	/* B: the child allocates, maps, sends, exits */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) die("socketpair");
	int info[2];
	if (pipe(info)) die("pipe");
	pid_t child = fork();
	if (child < 0) die("fork");
	if (child == 0) {
		prctl(PR_SET_NAME, "wl-9 child");
		int b = heap_alloc(8192);
		map_once(b, 8192);
		send_fd(sv[1], b, 1);
		int r[2] = { b, 0 };
		if (write(info[1], r, sizeof r) != sizeof r) die("write info");
		_exit(0);
	}
	int tag;
	int got = recv_fd(sv[0], &tag);
	int r[2];
	if (read(info[0], r, sizeof r) != sizeof r) die("read info");
	int st;
	if (waitpid(child, &st, 0) != child || !WIFEXITED(st) || WEXITSTATUS(st)) die("child failed");
	bufs[nb++] = (struct buf){ "B", inode_of(got), 8192, "system" };
	act("export", "B", (int)child, -1, NULL);
	act("fd", "B", (int)child, r[0], NULL);
	act("map", "B", (int)child, -1, NULL);
	act("exit", NULL, (int)child, -1, NULL);
	map_once(got, 8192);
	act("map", "B", me, -1, NULL);
	map_once(got, 8192);
	act("map", "B", me, -1, NULL);
	close(got);

	/* U: udmabuf over a memfd, fd only */
	int m = memfd_create("dt_lifetimes", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (m < 0) die("memfd_create");
	if (ftruncate(m, 16384)) die("ftruncate");
	if (fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK)) die("F_ADD_SEALS");
	int ud = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (ud < 0) die("open /dev/udmabuf");
	struct udmabuf_create c = { .memfd = (uint32_t)m, .flags = UDMABUF_FLAGS_CLOEXEC, .offset = 0, .size = 16384 };
	int u = ioctl(ud, UDMABUF_CREATE, &c);
	if (u < 0) die("UDMABUF_CREATE");
	bufs[nb++] = (struct buf){ "U", inode_of(u), 16384, "udmabuf" };
	act("export", "U", me, -1, NULL);
	act("fd", "U", me, u, NULL);

	if (vgem) {
		int card = open_vgem();
		/* A imported into vgem, then the handle closed */
		struct lt_prime ph = { .fd = a };
		if (ioctl(card, LT_PRIME_FD_TO_HANDLE, &ph)) die("PRIME_FD_TO_HANDLE");
		act("get", "A", me, a, NULL);
		act("attach", "A", me, -1, "vgem");
		struct lt_gem_close gc = { .handle = ph.handle };
		if (ioctl(card, LT_GEM_CLOSE, &gc)) die("GEM_CLOSE");
		act("detach", "A", me, -1, "vgem");
		act("put", "A", me, -1, NULL);
		/* G: a vgem dumb buffer exported with PRIME */
		struct lt_dumb cd = { .height = 32, .width = 32, .bpp = 32 };
		if (ioctl(card, LT_CREATE_DUMB, &cd)) die("MODE_CREATE_DUMB");
		struct lt_prime ex = { .handle = cd.handle, .flags = O_CLOEXEC | O_RDWR, .fd = -1 };
		if (ioctl(card, LT_PRIME_HANDLE_TO_FD, &ex)) die("PRIME_HANDLE_TO_FD");
		bufs[nb++] = (struct buf){ "G", inode_of(ex.fd), (unsigned long)cd.size, "drm" };
		act("export", "G", me, -1, NULL);
		act("fd", "G", me, ex.fd, NULL);
	}
	struct utsname un;
	uname(&un);
	fprintf(logf_, "\n  ],\n  \"kernel\": \"%s\",\n  \"vgem\": %s,\n  \"buffers\": [\n", un.release,
		vgem ? "true" : "false");
	for (int i = 0; i < nb; i++)
		fprintf(logf_, "    {\"id\": \"%s\", \"inode\": %lu, \"size\": %lu, \"exporter\": \"%s\"}%s\n",
			bufs[i].id, bufs[i].ino, bufs[i].size, bufs[i].exporter, i + 1 < nb ? "," : "");
	fprintf(logf_, "  ]\n}\n");
	if (fclose(logf_)) die("fclose");
	if (rename(tmp, out)) die("rename");
	return 0;
}
