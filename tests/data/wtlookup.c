/* wtlookup HOST N [WAIT]: looks HOST up N times with libc's getaddrinfo,
 * after WAIT seconds if given. Built into the containers' test image, with
 * the libc it is linked to: a container's own copy, for net.dns. */
#include <netdb.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	if (argc > 3)
		sleep(atoi(argv[3]));
	for (int i = 0; i < atoi(argv[2]); i++) {
		struct addrinfo *found;
		if (getaddrinfo(argv[1], NULL, NULL, &found) == 0)
			freeaddrinfo(found);
	}
	return 0;
}
