/* calc: a program for the coverage tests; each operation is its own path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add(int a, int b) { return a + b; }

static int neg(int a) { return -a; }

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: calc add A B | calc neg A\n");
		return 2;
	}
	if (strcmp(argv[1], "add") == 0 && argc == 4) {
		printf("%d\n", add(atoi(argv[2]), atoi(argv[3])));
		return 0;
	}
	if (strcmp(argv[1], "neg") == 0 && argc == 3) {
		printf("%d\n", neg(atoi(argv[2])));
		return 0;
	}
	fprintf(stderr, "calc: unknown operation %s\n", argv[1]);
	return 2;
}
