/* kvd: a key-value server speaking the kv line protocol on a TCP port.
 *
 *   kvd PORT
 *
 * One connection at a time; each request line gets one reply line: OK,
 * VALUE v, NOTFOUND, COUNT n, or ERR message. On SIGTERM or SIGINT it
 * exits normally, so that a build with --coverage writes its data. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

#define SLOTS 64

static struct {
	char key[64];
	char value[256];
	int used;
} table[SLOTS];

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
	(void)sig;
	stopping = 1;
}

static int find(const char *key) {
	int i;

	for (i = 0; i < SLOTS; i++)
		if (table[i].used && strcmp(table[i].key, key) == 0)
			return i;
	return -1;
}

/* handle executes one request line and writes its reply to out. */
static void handle(const char *line, FILE *out) {
	struct request req;
	char err[128];
	int i, n;

	if (parse_request(line, &req, err, sizeof err) < 0) {
		fprintf(out, "ERR %s\n", err);
		return;
	}
	fprintf(stderr, "kvd: %s %s\n", op_name(req.op), req.key);
	switch (req.op) {
	case OP_SET:
		i = find(req.key);
		for (n = 0; i < 0 && n < SLOTS; n++)
			if (!table[n].used)
				i = n;
		if (i < 0) {
			fprintf(out, "ERR table full\n");
			return;
		}
		table[i].used = 1;
		strcpy(table[i].key, req.key);
		strcpy(table[i].value, req.value);
		fprintf(out, "OK\n");
		break;
	case OP_GET:
		i = find(req.key);
		if (i < 0)
			fprintf(out, "NOTFOUND\n");
		else
			fprintf(out, "VALUE %s\n", table[i].value);
		break;
	case OP_DEL:
		i = find(req.key);
		if (i < 0) {
			fprintf(out, "NOTFOUND\n");
			return;
		}
		table[i].used = 0;
		fprintf(out, "OK\n");
		break;
	case OP_COUNT:
		for (i = n = 0; i < SLOTS; i++)
			n += table[i].used;
		fprintf(out, "COUNT %d\n", n);
		break;
	}
}

static void serve(int conn) {
	FILE *in = fdopen(conn, "r"), *out = fdopen(dup(conn), "w");
	char line[512];

	setvbuf(out, NULL, _IOLBF, 0);
	while (!stopping && fgets(line, sizeof line, in) != NULL)
		handle(line, out);
	fclose(in);
	fclose(out);
}

int main(int argc, char **argv) {
	struct sockaddr_in6 addr;
	struct sigaction sa;
	int port, s, one = 1;

	if (argc != 2 || (port = atoi(argv[1])) <= 0 || port > 65535) {
		fprintf(stderr, "usage: kvd PORT\n");
		return 2;
	}
	/* No SA_RESTART: accept and read return EINTR, and the loops end. */
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	s = socket(AF_INET6, SOCK_STREAM, 0);
	if (s < 0) {
		perror("kvd: socket");
		return 1;
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&addr, 0, sizeof addr);
	addr.sin6_family = AF_INET6;
	addr.sin6_addr = in6addr_any;
	addr.sin6_port = htons((unsigned short)port);
	if (bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 8) < 0) {
		perror("kvd: bind");
		return 1;
	}
	fprintf(stderr, "kvd: listening on port %d\n", port);
	while (!stopping) {
		int conn = accept(s, NULL, NULL);
		if (conn < 0) {
			if (errno != EINTR)
				perror("kvd: accept");
			continue;
		}
		serve(conn);
	}
	close(s);
	fprintf(stderr, "kvd: stopping\n");
	return 0;
}
