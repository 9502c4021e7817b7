#include "internal.h"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cerr_set(corral_error *e, int errnum, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	if (errnum && n >= 0 && (size_t)n < sizeof e->message)
		snprintf(e->message + n, sizeof e->message - n, ": %s", strerror(errnum));
	e->errnum = errnum;
	return -1;
}

int cerr_where(corral_error *e, int code, const char *step)
{
	if (e->code == CORRAL_E_NONE)
		e->code = code;
	if (!e->step[0])
		snprintf(e->step, sizeof e->step, "%s", step);
	return -1;
}

void cerr_copy(corral_error *to, const corral_error *from)
{
	if (to && to != from)
		memcpy(to, from, sizeof *to);
}

int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int write_file_str(const char *path, const char *value, corral_error *e)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return cerr_set(e, errno, "open %s", path);
	size_t len = strlen(value);
	ssize_t n;
	do
		n = write(fd, value, len);
	while (n < 0 && errno == EINTR);
	int saved = errno;
	close(fd);
	if (n != (ssize_t)len)
		return cerr_set(e, n < 0 ? saved : EIO, "write '%s' to %s", value, path);
	return 0;
}
