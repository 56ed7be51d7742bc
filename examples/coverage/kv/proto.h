/* proto.h: the line protocol of kvd and kv, shared by both. */
#ifndef KV_PROTO_H
#define KV_PROTO_H

#include <stddef.h>

enum op { OP_SET, OP_GET, OP_DEL, OP_COUNT };

struct request {
	enum op op;
	char key[64];
	char value[256];
};

/* parse_request reads one request line ("SET key value", "GET key",
 * "DEL key", "COUNT") into req. It returns 0, or -1 with a message in
 * err. */
int parse_request(const char *line, struct request *req, char *err, size_t errlen);

/* op_name returns the protocol word of op. */
const char *op_name(enum op op);

#endif
