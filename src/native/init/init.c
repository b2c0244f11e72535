/* cove-init: a minimal init for containers run with --init (mounted at /sbin/docker-init and run
 * as `docker-init -- cmd args...`, as Docker runs tini). As PID 1 it forks the command, forwards
 * every signal it receives to it, reaps all zombies, and exits with the command's status
 * (128 + signal when the command was killed by one). Static, no libraries. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const int synchronous[] = { SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS };

int main(int argc, char **argv)
{
	int first = 1;
	if (first < argc && strcmp(argv[first], "--") == 0)
		first++;
	if (first >= argc) {
		fprintf(stderr, "cove-init: usage: %s -- command [args...]\n", argv[0]);
		return 1;
	}
	sigset_t all, old;
	sigfillset(&all);
	for (size_t i = 0; i < sizeof(synchronous) / sizeof(synchronous[0]); i++)
		sigdelset(&all, synchronous[i]);
	sigdelset(&all, SIGTTIN);
	sigdelset(&all, SIGTTOU);
	if (sigprocmask(SIG_SETMASK, &all, &old) < 0) {
		perror("cove-init: sigprocmask");
		return 1;
	}
	signal(SIGTTIN, SIG_IGN);
	signal(SIGTTOU, SIG_IGN);
	if (getpid() != 1)
		prctl(PR_SET_CHILD_SUBREAPER, 1); /* reap orphans even when not PID 1 */

	pid_t child = fork();
	if (child < 0) {
		perror("cove-init: fork");
		return 1;
	}
	if (child == 0) {
		signal(SIGTTIN, SIG_DFL);
		signal(SIGTTOU, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[first], argv + first);
		fprintf(stderr, "cove-init: exec %s failed: %s\n", argv[first], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}

	for (;;) {
		struct timespec timeout = { .tv_sec = 1, .tv_nsec = 0 };
		siginfo_t info;
		int sig = sigtimedwait(&all, &info, &timeout);
		if (sig < 0 && errno != EAGAIN && errno != EINTR) {
			perror("cove-init: sigtimedwait");
			return 1;
		}
		if (sig > 0 && sig != SIGCHLD) {
			if (kill(child, sig) < 0 && errno != ESRCH)
				perror("cove-init: forwarding a signal");
		}
		/* reap everything that exited; the command's status ends the init */
		for (;;) {
			int status;
			pid_t w = waitpid(-1, &status, WNOHANG);
			if (w <= 0)
				break;
			if (w == child) {
				int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
				/* the remaining processes die with the PID namespace; reap what is already gone */
				while (waitpid(-1, &status, WNOHANG) > 0)
					;
				return code;
			}
		}
	}
}
