/*
 * droidtrack realkernel scenario: allocate real dma-bufs, spread them over processes, and write
 * what was done as JSON -- the expected answer, produced at run time from what the calls returned.
 *
 *   dt_scenario --out FILE [--no-vgem] [--odd-names]
 *
 * It never reads /proc: the expected answer comes from the allocation calls themselves (fstat of
 * the fd for the inode, the mmap return value for the VMA), so it is independent of what the
 * collector and droidtrack read. When everything is set up it writes FILE (atomically, via
 * FILE.tmp) and waits for SIGTERM/SIGINT; its children die with it (PR_SET_PDEATHSIG).
 *
 * Buffers (id, how it is held):
 *   B1 system heap 64 KiB "cam: preview 1": parent fd + whole mapping, both inherited by fork
 *      child A; child B inherits both too but closes its fd (mapping only).
 *   B2 system heap 12 KiB, unnamed: sent to child B over a unix socket (SCM_RIGHTS), dup()'d
 *      there, mapped as a one-page window at offset 4096; the parent closes its own fd.
 *   B3 udmabuf over a memfd, 64 KiB "udmabuf:win 2": parent maps a 16 KiB window at offset
 *      8192 and closes the fd (held only by the mapping).
 *   B4 system heap 8 KiB "exec: kept", fd without O_CLOEXEC: inherited by child C across fork
 *      and exec (C is this program re-executed); C maps it whole. The parent dup()s its fd.
 *   B5 system heap 20 KiB "kernel only": imported into vgem (PRIME fd->handle), then every fd is
 *      closed: only the kernel holds it, with vgem attached.
 *   B6 vgem dumb buffer exported with PRIME (exporter "drm") 16 KiB "gralloc:GL": parent fd +
 *      whole mapping (the maps offset is DRM's fake offset + 0).
 *   B7 udmabuf over a memfd, 8 KiB, unnamed: parent fd only, never mapped (fd-only bytes).
 * With --odd-names, also (parent fd + whole mapping each):
 *   B8 system heap 4 KiB named "tab\there", B9 system heap 4 KiB named "new\nline", B10 system
 *   heap 4 KiB named with 31 characters (the most DMA_BUF_NAME_LEN allows); a 32-character name
 *   is tried first on B10 and its errno recorded ("long_name_errno"; 0 if the kernel took it).
 *   B11 named "a\nsize:\t999999" (forges an fdinfo key), B12 named "b\n1\t0\t0\t1\tfake\t99\tz"
 *   (forges a bufinfo row; fd only).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

#define DT_PROG "dt_scenario"
#include "dt_common.h"

/* DRM uapi (include/uapi/drm/drm.h, drm_mode.h); Debian ships these only in libdrm-dev */
struct dt_drm_prime_handle { uint32_t handle; uint32_t flags; int32_t fd; };
struct dt_drm_mode_create_dumb {
	uint32_t height, width, bpp, flags;
	uint32_t handle, pitch;
	uint64_t size;
};
struct dt_drm_mode_map_dumb { uint32_t handle, pad; uint64_t offset; };
#define DT_DRM_IOCTL_PRIME_HANDLE_TO_FD _IOWR('d', 0x2d, struct dt_drm_prime_handle)
#define DT_DRM_IOCTL_PRIME_FD_TO_HANDLE _IOWR('d', 0x2e, struct dt_drm_prime_handle)
#define DT_DRM_IOCTL_MODE_CREATE_DUMB _IOWR('d', 0xB2, struct dt_drm_mode_create_dumb)
#define DT_DRM_IOCTL_MODE_MAP_DUMB _IOWR('d', 0xB3, struct dt_drm_mode_map_dumb)

#define NBUF 13
#define PAGE 4096UL

/* ---- what one process holds: copied into fork children with the rest of memory ---------- */
struct fdref { int buf; int fd; };
struct mapref { int buf; unsigned long start, end, offset; };
static struct fdref fds[32];
static int nfds;
static struct mapref maps[32];
static int nmaps;

static void hold_fd(int buf, int fd) { fds[nfds++] = (struct fdref){ buf, fd }; }
static void drop_fd(int fd)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i].fd == fd) { fds[i] = fds[--nfds]; break; }
	if (close(fd)) die("close %d", fd);
}
static void *map_buf(int buf, int fd, unsigned long len, unsigned long off, unsigned long shown_off)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	if (p == MAP_FAILED) die("mmap buffer B%d len %lu off %lu", buf, len, off);
	memset(p, 0x5a, len);   /* touch every page */
	maps[nmaps++] = (struct mapref){ buf, (unsigned long)p, (unsigned long)p + len, shown_off };
	return p;
}
/* report this process's holdings to the parent in one write (atomic under PIPE_BUF) */
static void report(int rfd, const char *role)
{
	char b[4000], comm[32] = "";
	int n = 0;
	prctl(PR_GET_NAME, comm);
	n += snprintf(b + n, sizeof b - n, "proc %d %s %s\n", (int)getpid(), role, comm);
	for (int i = 0; i < nfds; i++)
		n += snprintf(b + n, sizeof b - n, "fd %d %d %d %d\n", (int)getpid(), fds[i].buf, fds[i].fd,
			      (fcntl(fds[i].fd, F_GETFD) & FD_CLOEXEC) ? 1 : 0);
	for (int i = 0; i < nmaps; i++)
		n += snprintf(b + n, sizeof b - n, "map %d %d %lu %lu %lu\n", (int)getpid(), maps[i].buf,
			      maps[i].start, maps[i].end, maps[i].offset);
	n += snprintf(b + n, sizeof b - n, "end %d\n", (int)getpid());
	if (write(rfd, b, n) != n) die("report write");
}

/* ---- the buffers ------------------------------------------------------------------------- */
struct buf {
	int used;
	unsigned long ino, size;
	const char *exporter, *name, *how;
	const char *attached;   /* device attached by an importer, or NULL */
	int kernel_refs;        /* the kernel itself keeps a reference */
};
static struct buf bufs[NBUF];
static int long_name_errno = -1;   /* -1: not tried */

static void set_name(int fd, const char *name)
{
	if (name && ioctl(fd, DMA_BUF_SET_NAME, name)) die("DMA_BUF_SET_NAME %s", name);
}

static void record(int id, int fd, const char *exporter, const char *name, const char *how)
{
	struct stat st;
	if (fstat(fd, &st)) die("fstat");
	bufs[id] = (struct buf){ 1, (unsigned long)st.st_ino, 0, exporter, name, how, NULL, 0 };
}

static int heap_alloc(int id, unsigned long size, const char *name, int cloexec, const char *how)
{
	int h = open("/dev/dma_heap/system", O_RDWR | O_CLOEXEC);
	if (h < 0) die("open /dev/dma_heap/system");
	struct dma_heap_allocation_data a = { .len = size, .fd_flags = O_RDWR | (cloexec ? O_CLOEXEC : 0) };
	if (ioctl(h, DMA_HEAP_IOCTL_ALLOC, &a)) die("DMA_HEAP_IOCTL_ALLOC %lu", size);
	close(h);
	set_name(a.fd, name);
	record(id, a.fd, "system", name, how);
	bufs[id].size = size;
	hold_fd(id, a.fd);
	return a.fd;
}

static int udmabuf_alloc(int id, unsigned long size, const char *name, const char *how)
{
	int m = memfd_create("dt_udmabuf_backing", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (m < 0) die("memfd_create");
	if (ftruncate(m, (off_t)size)) die("ftruncate memfd");
	if (fcntl(m, F_ADD_SEALS, F_SEAL_SHRINK)) die("F_ADD_SEALS");
	int u = open("/dev/udmabuf", O_RDWR | O_CLOEXEC);
	if (u < 0) die("open /dev/udmabuf");
	struct udmabuf_create c = { .memfd = (uint32_t)m, .flags = UDMABUF_FLAGS_CLOEXEC, .offset = 0, .size = size };
	int fd = ioctl(u, UDMABUF_CREATE, &c);
	if (fd < 0) die("UDMABUF_CREATE");
	close(u);
	close(m);
	set_name(fd, name);
	record(id, fd, "udmabuf", name, how);
	bufs[id].size = size;
	hold_fd(id, fd);
	return fd;
}

/* ---- JSON output ------------------------------------------------------------------------- */
static void jstr(FILE *f, const char *s)
{
	if (!s) { fputs("null", f); return; }
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
		else if (c < 0x20) fprintf(f, "\\u%04x", c);
		else fputc(c, f);
	}
	fputc('"', f);
}

struct rline { char kind[8]; int pid, a, b; unsigned long s, e, o; char role[32], comm[32]; };
static struct rline lines[256];
static int nlines;

static void write_json(const char *out, int vgem)
{
	char tmp[4096];
	struct utsname u;
	uname(&u);
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	FILE *f = fopen(tmp, "w");
	if (!f) die("fopen %s", tmp);
	fprintf(f, "{\n  \"schema\": \"droidtrack.realkernel.expected/1\",\n  \"kernel\": ");
	jstr(f, u.release);
	fprintf(f, ",\n  \"page_size\": %ld,\n  \"vgem\": %s,\n", sysconf(_SC_PAGESIZE), vgem ? "true" : "false");
	if (long_name_errno >= 0)
		fprintf(f, "  \"long_name_errno\": %d,\n", long_name_errno);
	fprintf(f, "  \"processes\": [");
	int first = 1;
	for (int i = 0; i < nlines; i++) {
		if (strcmp(lines[i].kind, "proc")) continue;
		fprintf(f, "%s\n    {\"pid\": %d, \"role\": ", first ? "" : ",", lines[i].pid);
		jstr(f, lines[i].role);
		fprintf(f, ", \"comm\": ");
		jstr(f, lines[i].comm);
		fputc('}', f);
		first = 0;
	}
	fprintf(f, "\n  ],\n  \"buffers\": [");
	first = 1;
	for (int id = 0; id < NBUF; id++) {
		if (!bufs[id].used) continue;
		struct buf *b = &bufs[id];
		fprintf(f, "%s\n    {\"id\": \"B%d\", \"inode\": %lu, \"size\": %lu, \"exporter\": ",
			first ? "" : ",", id, b->ino, b->size);
		first = 0;
		jstr(f, b->exporter);
		fprintf(f, ", \"name\": ");
		jstr(f, b->name);
		fprintf(f, ", \"how\": ");
		jstr(f, b->how);
		fprintf(f, ", \"kernel_refs\": %s, \"attached\": [", b->kernel_refs ? "true" : "false");
		if (b->attached) jstr(f, b->attached);
		fprintf(f, "],\n     \"holders\": {");
		int firstpid = 1;
		for (int i = 0; i < nlines; i++) {
			if (strcmp(lines[i].kind, "proc")) continue;
			int pid = lines[i].pid, has = 0;
			for (int j = 0; j < nlines; j++)
				if (lines[j].pid == pid && lines[j].a == id &&
				    (!strcmp(lines[j].kind, "fd") || !strcmp(lines[j].kind, "map")))
					has = 1;
			if (!has) continue;
			fprintf(f, "%s\n       \"%d\": {\"fds\": [", firstpid ? "" : ",", pid);
			firstpid = 0;
			int c = 0;
			for (int j = 0; j < nlines; j++)
				if (lines[j].pid == pid && lines[j].a == id && !strcmp(lines[j].kind, "fd"))
					fprintf(f, "%s%d", c++ ? ", " : "", lines[j].b);
			fprintf(f, "], \"cloexec_fds\": [");   /* F_GETFD said FD_CLOEXEC */
			c = 0;
			for (int j = 0; j < nlines; j++)
				if (lines[j].pid == pid && lines[j].a == id && !strcmp(lines[j].kind, "fd") && lines[j].s)
					fprintf(f, "%s%d", c++ ? ", " : "", lines[j].b);
			fprintf(f, "], \"maps\": [");
			c = 0;
			for (int j = 0; j < nlines; j++)
				if (lines[j].pid == pid && lines[j].a == id && !strcmp(lines[j].kind, "map"))
					fprintf(f, "%s{\"start\": %lu, \"end\": %lu, \"offset\": %lu}", c++ ? ", " : "",
						lines[j].s, lines[j].e, lines[j].o);
			fprintf(f, "]}");
		}
		fprintf(f, "%s}}", firstpid ? "" : "\n     ");
	}
	fprintf(f, "\n  ]\n}\n");
	if (fclose(f)) die("write %s", tmp);
	if (rename(tmp, out)) die("rename %s", out);
}

static void read_reports(int rfd, int nprocs)
{
	static char acc[65536];
	read_lines_until(rfd, acc, sizeof acc, "end ", nprocs, "child reports (ended)");
	for (char *l = strtok(acc, "\n"); l; l = strtok(NULL, "\n")) {
		struct rline *x = &lines[nlines];
		memset(x, 0, sizeof *x);
		x->a = -1;
		if (sscanf(l, "proc %d %31s %31s", &x->pid, x->role, x->comm) >= 2) strcpy(x->kind, "proc");
		else if (sscanf(l, "fd %d %d %d %lu", &x->pid, &x->a, &x->b, &x->s) == 4) strcpy(x->kind, "fd");
		else if (sscanf(l, "map %d %d %lu %lu %lu", &x->pid, &x->a, &x->s, &x->e, &x->o) == 5)
			strcpy(x->kind, "map");
		else continue;
		nlines++;
	}
}

/* ---- child C: this program re-executed, holding B4's inherited fd ------------------------ */
static int exec_child(int argc, char **argv)
{
	if (argc < 5) { fprintf(stderr, "usage: --exec-child FD LEN REPORTFD\n"); return 64; }
	int fd = atoi(argv[2]), rfd = atoi(argv[4]);
	unsigned long len = strtoul(argv[3], NULL, 10);
	prctl(PR_SET_NAME, "dtscen-exec-c");
	hold_fd(4, fd);
	map_buf(4, fd, len, 0, 0);
	report(rfd, "exec-child");
	close(rfd);
	wait_forever();
	return 0;
}

static volatile sig_atomic_t stop;
static void on_stop(int s) { (void)s; stop = 1; }

int main(int argc, char **argv)
{
	const char *out = NULL;
	int vgem = 1, odd = 0;
	if (argc >= 2 && !strcmp(argv[1], "--exec-child")) return exec_child(argc, argv);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
		else if (!strcmp(argv[i], "--no-vgem")) vgem = 0;
		else if (!strcmp(argv[i], "--odd-names")) odd = 1;
		else { fprintf(stderr, "usage: dt_scenario --out FILE [--no-vgem] [--odd-names]\n"); return 64; }
	}
	if (!out) { fprintf(stderr, "usage: dt_scenario --out FILE [--no-vgem] [--odd-names]\n"); return 64; }
	prctl(PR_SET_NAME, "dtscen-parent");
	signal(SIGTERM, on_stop);
	signal(SIGINT, on_stop);

	int rp[2];   /* children report their holdings here */
	if (pipe(rp)) die("pipe");
	int nchildren = 0;
	pid_t kids[8];

	/* B1: fd + whole mapping, inherited by child A (and child B, which drops the fd) */
	int b1 = heap_alloc(1, 16 * PAGE, "cam: preview 1", 1, "heap; parent fd+map, fork-inherited by A; B keeps only the map");
	map_buf(1, b1, 16 * PAGE, 0, 0);
	pid_t a = fork();
	if (a < 0) die("fork");
	if (a == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "dtscen-fork-a");
		report(rp[1], "fork-child");
		wait_forever();
	}
	kids[nchildren++] = a;

	/* B2: created after child B exists, sent to it over a unix socket */
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) die("socketpair");
	pid_t b = fork();
	if (b < 0) die("fork");
	if (b == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		prctl(PR_SET_NAME, "dtscen-sock-b");
		drop_fd(b1);   /* B1 stays held by the inherited mapping only */
		int tag;
		int got = recv_fd(sv[1], &tag);
		hold_fd(2, got);
		int d = dup(got);
		if (d < 0) die("dup");
		hold_fd(2, d);
		map_buf(2, got, PAGE, PAGE, PAGE);   /* one-page window at offset 4096 */
		report(rp[1], "socket-receiver");
		wait_forever();
	}
	kids[nchildren++] = b;
	close(sv[1]);
	int b2 = heap_alloc(2, 3 * PAGE, NULL, 1, "heap unnamed; sent over SCM_RIGHTS to B, dup()'d and window-mapped there; parent closed it");
	send_fd(sv[0], b2, 2);
	drop_fd(b2);
	close(sv[0]);

	/* B3: udmabuf, a window mapped, then the fd closed: held only by the mapping */
	int b3 = udmabuf_alloc(3, 16 * PAGE, "udmabuf:win 2", "udmabuf over memfd; parent maps a 16 KiB window at 8192, fd closed");
	map_buf(3, b3, 4 * PAGE, 2 * PAGE, 2 * PAGE);
	drop_fd(b3);

	/* B4: no O_CLOEXEC, inherited by child C across fork and exec */
	int b4 = heap_alloc(4, 2 * PAGE, "exec: kept", 0, "heap without O_CLOEXEC; parent fd + dup; inherited by C across fork+exec, mapped whole there");
	pid_t c = fork();
	if (c < 0) die("fork");
	if (c == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		char sfd[16], slen[32], srp[16];
		snprintf(sfd, sizeof sfd, "%d", b4);
		snprintf(slen, sizeof slen, "%lu", 2 * PAGE);
		int w = dup(rp[1]);   /* without O_CLOEXEC: survives exec */
		snprintf(srp, sizeof srp, "%d", w);
		execl("/proc/self/exe", "dt_scenario", "--exec-child", sfd, slen, srp, (char *)NULL);
		die("exec /proc/self/exe");
	}
	kids[nchildren++] = c;
	int b4d = dup(b4);
	if (b4d < 0) die("dup");
	hold_fd(4, b4d);

	/* B7: udmabuf, unnamed, fd only */
	udmabuf_alloc(7, 2 * PAGE, NULL, "udmabuf over memfd, unnamed; parent fd only, never mapped");

	if (vgem) {
		int card = open_vgem();
		/* B5: imported into vgem, then every fd closed */
		int b5 = heap_alloc(5, 5 * PAGE, "kernel only", 1, "heap; imported into vgem (PRIME fd->handle), all fds closed");
		struct dt_drm_prime_handle ph = { .fd = b5 };
		if (ioctl(card, DT_DRM_IOCTL_PRIME_FD_TO_HANDLE, &ph)) die("PRIME_FD_TO_HANDLE");
		drop_fd(b5);
		bufs[5].kernel_refs = 1;
		bufs[5].attached = "vgem";
		/* B6: a vgem buffer exported with PRIME, mapped through the dma-buf fd */
		struct dt_drm_mode_create_dumb cd = { .height = 64, .width = 64, .bpp = 32 };
		if (ioctl(card, DT_DRM_IOCTL_MODE_CREATE_DUMB, &cd)) die("MODE_CREATE_DUMB");
		struct dt_drm_mode_map_dumb md = { .handle = cd.handle };
		if (ioctl(card, DT_DRM_IOCTL_MODE_MAP_DUMB, &md)) die("MODE_MAP_DUMB");
		struct dt_drm_prime_handle ex = { .handle = cd.handle, .flags = O_CLOEXEC | O_RDWR, .fd = -1 };
		if (ioctl(card, DT_DRM_IOCTL_PRIME_HANDLE_TO_FD, &ex)) die("PRIME_HANDLE_TO_FD");
		set_name(ex.fd, "gralloc:GL");
		record(6, ex.fd, "drm", "gralloc:GL", "vgem dumb buffer exported with PRIME; parent fd + whole mapping");
		bufs[6].size = (unsigned long)cd.size;
		bufs[6].kernel_refs = 1;
		hold_fd(6, ex.fd);
		/* DRM's dma-buf mmap adds the GEM object's fake mmap offset to the page offset */
		map_buf(6, ex.fd, (unsigned long)cd.size, 0, (unsigned long)md.offset);
		/* `card` stays open: the GEM handles (and their references) belong to this file */
	}

	if (odd) {
		int f8 = heap_alloc(8, PAGE, "tab\there", 1, "heap named with a TAB; parent fd + whole mapping");
		map_buf(8, f8, PAGE, 0, 0);
		int f9 = heap_alloc(9, PAGE, "new\nline", 1, "heap named with a newline; parent fd + whole mapping");
		map_buf(9, f9, PAGE, 0, 0);
		static const char n32[] = "abcdefghijklmnopqrstuvwxyz:01234";     /* 32 characters */
		static const char n31[] = "abcdefghijklmnopqrstuvwxyz:0123";      /* 31 characters */
		int f10 = heap_alloc(10, PAGE, NULL, 1, "heap; a 32-character name tried, then a 31-character one");
		long_name_errno = ioctl(f10, DMA_BUF_SET_NAME, n32) ? errno : 0;
		set_name(f10, long_name_errno ? n31 : n32);
		bufs[10].name = long_name_errno ? n31 : n32;
		map_buf(10, f10, PAGE, 0, 0);
		/* names that try to forge a line of their own: an fdinfo key, a bufinfo row */
		int f11 = heap_alloc(11, PAGE, "a\nsize:\t999999", 1, "heap; name forging an fdinfo size: line");
		map_buf(11, f11, PAGE, 0, 0);
		heap_alloc(12, 2 * PAGE, "b\n1\t0\t0\t1\tfake\t99\tz", 1, "heap; name forging a bufinfo row; fd only");
	}

	report(rp[1], "parent");
	close(rp[1]);
	read_reports(rp[0], nchildren + 1);
	write_json(out, vgem);
	while (!stop) pause();
	for (int i = 0; i < nchildren; i++) kill(kids[i], SIGKILL);
	for (int i = 0; i < nchildren; i++) waitpid(kids[i], NULL, 0);
	return 0;
}
