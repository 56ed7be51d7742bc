/* proto.c: parsing requests of the kv line protocol. */
#include <stdio.h>
#include <string.h>

#include "proto.h"

static const char *names[] = {"SET", "GET", "DEL", "COUNT"};

const char *op_name(enum op op) { return names[op]; }

/* word copies the next space-separated word of *s into out (at most n
 * bytes with its NUL) and advances *s; it returns its length, 0 at the
 * end, -1 if it is too long. */
static int word(const char **s, char *out, size_t n) {
	size_t len;

	while (**s == ' ')
		(*s)++;
	len = strcspn(*s, " \r\n");
	if (len >= n)
		return -1;
	memcpy(out, *s, len);
	out[len] = '\0';
	*s += len;
	return (int)len;
}

int parse_request(const char *line, struct request *req, char *err, size_t errlen) {
	char verb[16];
	size_t i;
	int n;

	memset(req, 0, sizeof *req);
	if (word(&line, verb, sizeof verb) <= 0) {
		snprintf(err, errlen, "empty or overlong request");
		return -1;
	}
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(verb, names[i]) == 0)
			break;
	if (i == sizeof names / sizeof names[0]) {
		snprintf(err, errlen, "unknown request %s", verb);
		return -1;
	}
	req->op = (enum op)i;
	if (req->op == OP_COUNT)
		return 0;
	n = word(&line, req->key, sizeof req->key);
	if (n <= 0) {
		snprintf(err, errlen, "%s needs a key", verb);
		return -1;
	}
	if (req->op != OP_SET)
		return 0;
	while (*line == ' ')
		line++;
	n = (int)strcspn(line, "\r\n");
	if (n == 0 || n >= (int)sizeof req->value) {
		snprintf(err, errlen, "SET needs a value of 1 to %zu bytes", sizeof req->value - 1);
		return -1;
	}
	memcpy(req->value, line, (size_t)n);
	return 0;
}
