/* Profiling's known answers. `wthot spin SECONDS`: hot_a takes three times
 * the CPU of hot_b, and each is called from its own caller (main → caller_a
 * → hot_a, main → caller_b → hot_b). `wthot open N`: open_storm opens and
 * closes "/" N times. Either then sleeps (argv[3] seconds, default 1), so
 * that tracers name its stacks while it still runs (the maps of an exited
 * process are gone). Built without
 * optimisation and with frame pointers, so that every function, leaves
 * included, has its frame, and the kernel's frame-pointer walk sees every
 * caller. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long sink;

__attribute__((noinline)) void hot_a(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * 7;
}

__attribute__((noinline)) void hot_b(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		sink += i * 7;
}

__attribute__((noinline)) void caller_a(void)
{
	hot_a(300000);
}

__attribute__((noinline)) void caller_b(void)
{
	hot_b(100000);
}

static double seconds(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) void open_storm(long n)
{
	for (long i = 0; i < n; i++)
		close(open("/", O_RDONLY));
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "open") == 0) {
		open_storm(atol(argv[2]));
	} else {
		double end = seconds() + (argc > 2 ? atof(argv[2]) : 3);
		while (seconds() < end) {
			caller_a();
			caller_b();
		}
	}
	sleep(argc > 3 ? atoi(argv[3]) : 1);
	return 0;
}
