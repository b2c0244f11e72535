/* cove-pause: the process of a pod's infra container. It holds the pod's namespaces (network, IPC,
 * UTS, and PID when the pod shares it) while doing nothing: it sleeps in pause(). As PID 1 of a
 * shared PID namespace it is the parent of every orphan there, so it reaps them (SIGCHLD) instead
 * of letting zombies pile up. SIGINT and SIGTERM end it at once with status 0 (as PID 1 a signal
 * without a handler would be ignored, so both get one). Static, no libraries. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void finish(int sig)
{
	(void)sig;
	_exit(0);
}

static void reap(int sig)
{
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-v") == 0 || strcmp(argv[1], "--version") == 0)) {
		puts("cove-pause");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "cove-pause: takes no arguments (it only holds the pod's namespaces)\n");
		return 1;
	}
	struct sigaction end = { .sa_handler = finish };
	sigemptyset(&end.sa_mask);
	struct sigaction child = { .sa_handler = reap, .sa_flags = SA_NOCLDSTOP | SA_RESTART };
	sigemptyset(&child.sa_mask);
	if (sigaction(SIGINT, &end, NULL) < 0 || sigaction(SIGTERM, &end, NULL) < 0 || sigaction(SIGCHLD, &child, NULL) < 0) {
		perror("cove-pause: sigaction");
		return 1;
	}
	for (;;)
		pause();
}
