/* Network: the run's own network namespace holds only the loopback device, brought up here. */
#include "internal.h"
#include "rawsys.h"
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

long net_loopback_up(void)
{
	long fd = rawsys(SYS_socket, AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	struct ifreq ifr;
	memset(&ifr, 0, sizeof ifr);
	memcpy(ifr.ifr_name, "lo", 3);
	long rc = rawsys(SYS_ioctl, fd, SIOCGIFFLAGS, &ifr);
	if (rc == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = rawsys(SYS_ioctl, fd, SIOCSIFFLAGS, &ifr);
	}
	rawsys(SYS_close, fd);
	return rc;
}
