/* forkexec: the "C baseline" for the super-server benchmark.
 *
 *   forkexec [-b BACKLOG] ADDR PORT /path/to/handler [ARG...]
 *
 * A minimal inetd: listen on ADDR:PORT (IPv4) with a large backlog,
 * accept, fork, dup2 the connection onto fd 0 and fd 1, exec the handler;
 * the parent closes its copy and reaps children from a SIGCHLD handler
 * with waitpid(WNOHANG). No access control, no limits, no logging: the
 * least work a fork-per-connection server can do. SIGTERM/SIGINT stop it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_chld(int sig)
{
	int saved = errno;
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = saved;
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: forkexec [-b BACKLOG] ADDR PORT /path/to/handler [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int backlog = 4096, opt;
	while ((opt = getopt(argc, argv, "+b:")) != -1) {
		if (opt == 'b')
			backlog = atoi(optarg);
		else
			usage();
	}
	if (argc - optind < 3)
		usage();
	const char *addr = argv[optind], *port = argv[optind + 1];
	char **hargv = &argv[optind + 2];

	struct sockaddr_in sin;
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)atoi(port));
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "forkexec: bad IPv4 address %s\n", addr);
		return 2;
	}

	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0) {
		perror("forkexec: socket");
		return 1;
	}
	int one = 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(ls, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(ls, backlog) < 0) {
		fprintf(stderr, "forkexec: listen %s:%s: %s\n", addr, port, strerror(errno));
		return 1;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_chld;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = on_term;
	sa.sa_flags = 0; /* no SA_RESTART: let accept return EINTR */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	/* The child must start with default signal handling and an empty mask. */
	sigset_t empty;
	sigemptyset(&empty);

	while (!stop) {
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				usleep(5000);
				continue;
			}
			perror("forkexec: accept");
			return 1;
		}
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGCHLD, SIG_DFL);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			sigprocmask(SIG_SETMASK, &empty, NULL);
			if (dup2(c, 0) < 0 || dup2(c, 1) < 0)
				_exit(127);
			execv(hargv[0], hargv);
			_exit(127);
		}
		if (pid < 0)
			perror("forkexec: fork");
		close(c);
	}
	close(ls);
	return 0;
}
