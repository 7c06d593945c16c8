// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Not a probe: one program the host runs once with BPF_PROG_TEST_RUN, which
 * runs it in the host's own task, to learn its pid as the kernel's probes
 * see it (the initial pid namespace's), whatever pid namespace it runs in. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp")
int whoami(void *ctx)
{
	return bpf_get_current_pid_tgid() >> 32;
}
