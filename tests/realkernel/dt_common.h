/*
 * What the realkernel scenario programs share. Define DT_PROG (the name they print on errors)
 * before including it; it needs <errno.h>, <stdarg.h>, <stdio.h>, <stdlib.h>, <string.h> and
 * <unistd.h>.
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

/* until a signal ends the process (unused attributes: not every program needs both) */
static __attribute__((unused)) void wait_forever(void)
{
	for (;;) pause();
}

#endif
