/*
 * User namespace: the parent (host root) writes the child's id maps. Container ids 0..65535 map
 * onto an unprivileged host range, so nothing inside is ever host root, and the program itself
 * runs as an ordinary uid of that range.
 */
#include "internal.h"
#include <stdio.h>

int userns_write_maps(pid_t pid, uint32_t id_base, corral_error *e)
{
	char path[64], map[64];
	snprintf(map, sizeof map, "0 %u 65536\n", id_base);
	snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
	if (write_file_str(path, map, e) < 0)
		return -1;
	snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
	return write_file_str(path, map, e);
}
