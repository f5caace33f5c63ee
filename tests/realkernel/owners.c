/*
 * droidtrack realkernel ownership scenario: a process with a system uid plays Android's gralloc
 * allocator and allocates dma-bufs from the system heap on behalf of two apps; a "surfaceflinger"
 * receives some app buffers; then one app exits while surfaceflinger still holds its buffer.
 * It writes, from its own calls (fstat inodes, the uids it set), who requested each buffer;
 * droidtrack must derive the same owners from what the kernel shows.
 *
 *   dt_owners --out1 FILE1 --go FILE_GO --out2 FILE2
 *
 * Processes (each re-executes this program with argv[0] set as Android would show it, so that
 * /proc/PID/cmdline and comm look like the real thing, and changes uid first):
 *   allocator       uid 1000   argv0 /vendor/bin/hw/android.hardware.graphics.allocator-service
 *   com.example.appa uid 10100
 *   com.example.appb uid 10101
 *   surfaceflinger  uid 1000   argv0 /system/bin/surfaceflinger
 * Buffers (requested by; how they end up held):
 *   A1 64 KiB "preview"  appa: allocator sends it to appa and closes; appa maps it and passes a
 *                        copy to surfaceflinger (held by appa fd+map and surfaceflinger fd)
 *   A2 32 KiB unnamed    appa: appa holds it by fd only
 *   B1 48 KiB "layer"    appb: appb passes a copy to surfaceflinger, which maps it; appb exits in
 *                        phase 2, surfaceflinger keeps it: its last app holder is appb
 *   B2 16 KiB unnamed    appb: held by appb alone, freed when appb exits
 *   S1 12 KiB "fb"       surfaceflinger: allocator sends it, surfaceflinger holds it alone
 *   K1  8 KiB "pool"     the allocator itself: it keeps it
 * FILE1 is written when phase 1 is set up; on FILE_GO appearing, appb exits, and FILE2 is written.
 * Both: {"phase", "processes": [{role, pid, uid, argv0}], "buffers": [{id, inode, size,
 * requested_by, alive}]}. Then it waits for SIGTERM; its children die with it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/dma-buf.h>
#include <linux/dma-heap.h>

#define DT_PROG "dt_owners"
#include "dt_common.h"

static int heap_alloc(unsigned long size, const char *name)
{
	/* read-only, as Android's allocators open it (the node is 0444 there, and here: main) */
	int h = open("/dev/dma_heap/system", O_RDONLY | O_CLOEXEC);
	if (h < 0) die("open /dev/dma_heap/system");
	struct dma_heap_allocation_data a = { .len = size, .fd_flags = O_RDWR | O_CLOEXEC };
	if (ioctl(h, DMA_HEAP_IOCTL_ALLOC, &a)) die("DMA_HEAP_IOCTL_ALLOC %lu", size);
	close(h);
	if (name && ioctl(a.fd, DMA_BUF_SET_NAME, name)) die("DMA_BUF_SET_NAME %s", name);
	return a.fd;
}

static void map_whole(int fd, unsigned long size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) die("mmap");
	memset(p, 0x5a, size);
}

/* ---- the roles --------------------------------------------------------------------------- */
enum { A1, A2, B1, B2, S1, K1, NB };
static const char *ids[NB] = { "A1", "A2", "B1", "B2", "S1", "K1" };
static const unsigned long sizes[NB] = { 65536, 32768, 49152, 16384, 12288, 8192 };
static const char *names[NB] = { "preview", NULL, "layer", NULL, "fb", "pool" };
static const char *requested_by[NB] = { "com.example.appa", "com.example.appa", "com.example.appb",
					 "com.example.appb", "surfaceflinger", "allocator" };

/* fds the parent hands every role (inherited across exec: not O_CLOEXEC) */
struct wiring { int report, to_appa, to_appb, to_sf, appa_sf, appb_sf, appb_cmd; };

static void report(int fd, const char *fmt, ...)
{
	char b[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (write(fd, b, (size_t)n) != n) die("report");
}

static void ready(struct wiring *w, const char *role)
{
	report(w->report, "ready %s %d %d\n", role, (int)getpid(), (int)getuid());
}

static void run_allocator(struct wiring *w)
{
	int fd[NB];
	struct stat st;
	for (int i = 0; i < NB; i++) {
		fd[i] = heap_alloc(sizes[i], names[i]);
		if (fstat(fd[i], &st)) die("fstat");
		report(w->report, "buf %s %lu %lu\n", ids[i], (unsigned long)st.st_ino, sizes[i]);
	}
	send_fd(w->to_appa, fd[A1], A1);
	send_fd(w->to_appa, fd[A2], A2);
	send_fd(w->to_appb, fd[B1], B1);
	send_fd(w->to_appb, fd[B2], B2);
	send_fd(w->to_sf, fd[S1], S1);
	for (int i = 0; i < NB; i++)
		if (i != K1) close(fd[i]);      /* the allocator keeps only its own pool buffer */
	ready(w, "allocator");
	wait_forever();
}

static void run_appa(struct wiring *w)
{
	int tag, a1 = recv_fd(w->to_appa, &tag), a2 = recv_fd(w->to_appa, &tag);
	(void)a2;
	map_whole(a1, sizes[A1]);
	send_fd(w->appa_sf, a1, A1);
	ready(w, "appa");
	wait_forever();
}

static void run_appb(struct wiring *w)
{
	int tag, b1 = recv_fd(w->to_appb, &tag), b2 = recv_fd(w->to_appb, &tag);
	(void)b2;
	send_fd(w->appb_sf, b1, B1);
	ready(w, "appb");
	char c;
	if (read(w->appb_cmd, &c, 1) != 1) die("appb: command pipe");
	exit(0);       /* phase 2: the app goes away; its fds close with it */
}

static void run_sf(struct wiring *w)
{
	int tag;
	recv_fd(w->to_sf, &tag);                 /* S1, from the allocator */
	recv_fd(w->appa_sf, &tag);               /* A1, from appa */
	int b1 = recv_fd(w->appb_sf, &tag);      /* B1, from appb */
	map_whole(b1, sizes[B1]);
	ready(w, "surfaceflinger");
	wait_forever();
}

struct role { const char *name, *argv0; uid_t uid; void (*run)(struct wiring *); };
static const struct role roles[] = {
	{ "surfaceflinger", "/system/bin/surfaceflinger", 1000, run_sf },
	{ "appa", "com.example.appa", 10100, run_appa },
	{ "appb", "com.example.appb", 10101, run_appb },
	{ "allocator", "/vendor/bin/hw/android.hardware.graphics.allocator-service", 1000, run_allocator },
};
#define NROLES (int)(sizeof roles / sizeof roles[0])

/* ---- the parent -------------------------------------------------------------------------- */
struct seen { char id[4]; unsigned long ino, size; };
static struct seen bufs[NB];
static int pids[NROLES], uids[NROLES];

static void write_json(const char *out, int phase)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", out);
	FILE *f = fopen(tmp, "w");
	if (!f) die("fopen %s", tmp);
	fprintf(f, "{\n  \"schema\": \"droidtrack.realkernel.owners/1\",\n  \"phase\": %d,\n  \"processes\": [", phase);
	for (int r = 0; r < NROLES; r++)
		fprintf(f, "%s\n    {\"role\": \"%s\", \"pid\": %d, \"uid\": %d, \"argv0\": \"%s\", \"alive\": %s}",
			r ? "," : "", roles[r].name, pids[r], uids[r], roles[r].argv0,
			phase == 2 && !strcmp(roles[r].name, "appb") ? "false" : "true");
	fprintf(f, "\n  ],\n  \"buffers\": [");
	for (int i = 0; i < NB; i++)
		fprintf(f, "%s\n    {\"id\": \"%s\", \"inode\": %lu, \"size\": %lu, \"name\": %s%s%s, "
			"\"requested_by\": \"%s\", \"alive\": %s}",
			i ? "," : "", bufs[i].id, bufs[i].ino, bufs[i].size, names[i] ? "\"" : "",
			names[i] ? names[i] : "null", names[i] ? "\"" : "", requested_by[i],
			phase == 2 && i == B2 ? "false" : "true");
	fprintf(f, "\n  ]\n}\n");
	if (fclose(f)) die("write %s", tmp);
	if (rename(tmp, out)) die("rename %s", out);
}

static void read_reports(int rfd)
{
	static char acc[8192];
	int nbuf = 0;
	read_lines_until(rfd, acc, sizeof acc, "ready ", NROLES, "reports (ready)");
	for (char *l = strtok(acc, "\n"); l; l = strtok(NULL, "\n")) {
		char what[32];
		int pid, uid;
		struct seen s;
		if (sscanf(l, "buf %3s %lu %lu", s.id, &s.ino, &s.size) == 3 && nbuf < NB)
			bufs[nbuf++] = s;
		else if (sscanf(l, "ready %31s %d %d", what, &pid, &uid) == 3)
			for (int r = 0; r < NROLES; r++)
				if (!strcmp(roles[r].name, what)) { pids[r] = pid; uids[r] = uid; }
	}
	if (nbuf != NB) die("allocator reported %d of %d buffers", nbuf, NB);
}

static void become(const struct role *r, struct wiring *w, const char *self)
{
	if (setresgid(r->uid, r->uid, r->uid) || setresuid(r->uid, r->uid, r->uid)) die("setresuid %d", (int)r->uid);
	char arg[128];
	snprintf(arg, sizeof arg, "%d,%d,%d,%d,%d,%d,%d", w->report, w->to_appa, w->to_appb, w->to_sf,
		 w->appa_sf, w->appb_sf, w->appb_cmd);
	execl(self, r->argv0, "--role", r->name, "--wiring", arg, (char *)NULL);
	die("exec %s", self);
}

static void sockpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) die("socketpair");
}

int main(int argc, char **argv)
{
	const char *out1 = NULL, *out2 = NULL, *go = NULL, *role = NULL, *wiring = NULL;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--out1")) out1 = argv[i + 1];
		else if (!strcmp(argv[i], "--out2")) out2 = argv[i + 1];
		else if (!strcmp(argv[i], "--go")) go = argv[i + 1];
		else if (!strcmp(argv[i], "--role")) role = argv[i + 1];
		else if (!strcmp(argv[i], "--wiring")) wiring = argv[i + 1];
	}
	if (role) {        /* a re-executed child: take up its part */
		struct wiring w;
		if (!wiring || sscanf(wiring, "%d,%d,%d,%d,%d,%d,%d", &w.report, &w.to_appa, &w.to_appb, &w.to_sf,
				      &w.appa_sf, &w.appb_sf, &w.appb_cmd) != 7)
			die("bad --wiring");
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1) exit(1);
		for (int r = 0; r < NROLES; r++)
			if (!strcmp(roles[r].name, role)) {
				/* comm as the service would have it: surfaceflinger's own name, the app's package
				 * cut to 15 characters as the kernel does */
				const char *base = strrchr(roles[r].argv0, '/');
				prctl(PR_SET_NAME, base ? base + 1 : roles[r].argv0);
				roles[r].run(&w);
			}
		die("unknown role %s", role);
	}
	if (!out1 || !out2 || !go) {
		fprintf(stderr, "usage: dt_owners --out1 FILE1 --go FILE_GO --out2 FILE2\n");
		return 2;
	}
	/* the allocator runs as uid 1000: the heap node as Android has it (world-readable) */
	if (chmod("/dev/dma_heap/system", 0444)) die("chmod /dev/dma_heap/system");
	/* one datagram socket pair per path an fd travels; index 0 is the receiver's end */
	int rep[2], appa[2], appb[2], sf[2], a_sf[2], b_sf[2], cmd[2];
	if (pipe(rep) || pipe(cmd)) die("pipe");
	sockpair(appa);
	sockpair(appb);
	sockpair(sf);
	sockpair(a_sf);
	sockpair(b_sf);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0) die("readlink /proc/self/exe");
	self[n] = 0;
	int appb_pid = -1;
	for (int r = 0; r < NROLES; r++) {
		/* receivers read on [0], senders write on [1]: both ends go to every role (a role uses
		 * the ones its part needs) */
		struct wiring w = { rep[1], 0, 0, 0, 0, 0, cmd[0] };
		const char *nm = roles[r].name;
		w.to_appa = !strcmp(nm, "appa") ? appa[0] : appa[1];
		w.to_appb = !strcmp(nm, "appb") ? appb[0] : appb[1];
		w.to_sf = !strcmp(nm, "surfaceflinger") ? sf[0] : sf[1];
		w.appa_sf = !strcmp(nm, "surfaceflinger") ? a_sf[0] : a_sf[1];
		w.appb_sf = !strcmp(nm, "surfaceflinger") ? b_sf[0] : b_sf[1];
		pid_t p = fork();
		if (p < 0) die("fork");
		if (p == 0) become(&roles[r], &w, self);
		if (!strcmp(nm, "appb")) appb_pid = p;
	}
	read_reports(rep[0]);
	write_json(out1, 1);
	while (access(go, F_OK)) usleep(100000);
	if (write(cmd[1], "x", 1) != 1) die("command appb");
	if (waitpid(appb_pid, NULL, 0) != appb_pid) die("waitpid appb");
	write_json(out2, 2);
	wait_forever();
}
