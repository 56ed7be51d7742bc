/* kv: the client of kvd.
 *
 *   kv HOST PORT REQUEST...
 *
 * Sends each request ("SET key value", "GET key", "DEL key", "COUNT")
 * and prints each reply. A malformed request is refused before anything
 * is sent (exit status 2); a failed connection is exit status 1. */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

static int dial(const char *host, const char *port) {
	struct addrinfo hints, *res, *ai;
	int s = -1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "kv: %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (s >= 0 && connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (s >= 0)
			close(s);
		s = -1;
	}
	freeaddrinfo(res);
	if (s < 0)
		fprintf(stderr, "kv: cannot connect to %s port %s\n", host, port);
	return s;
}

int main(int argc, char **argv) {
	struct request req;
	char err[128], reply[512];
	FILE *in, *out;
	int i, s;

	if (argc < 4) {
		fprintf(stderr, "usage: kv HOST PORT REQUEST...\n");
		return 2;
	}
	for (i = 3; i < argc; i++) {
		if (parse_request(argv[i], &req, err, sizeof err) < 0) {
			fprintf(stderr, "kv: %s\n", err);
			return 2;
		}
	}
	s = dial(argv[1], argv[2]);
	if (s < 0)
		return 1;
	in = fdopen(s, "r");
	out = fdopen(dup(s), "w");
	for (i = 3; i < argc; i++) {
		fprintf(out, "%s\n", argv[i]);
		fflush(out);
		if (fgets(reply, sizeof reply, in) == NULL) {
			fprintf(stderr, "kv: the server closed the connection\n");
			return 1;
		}
		fputs(reply, stdout);
	}
	fclose(out);
	fclose(in);
	return 0;
}
