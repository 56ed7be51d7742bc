#!/bin/sh
# build.sh: builds the example's programs with coverage instrumentation
# into build/ next to this script, where the guests see them (they share
# the host's root; not /tmp, which each guest has its own of):
#
#   kvd, kv       the key-value server and client in C (gcc --coverage;
#                 the .gcno files lcov needs are written next to them)
#   wordd, word   the word service and client in Go (go build -cover)
#
# and build/paths.star, which tells coverage.star where they are.
# Needs gcc and go.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out="$here/build"
rm -rf "$out"
mkdir -p "$out"

for tool in gcc go; do
	command -v "$tool" >/dev/null || { echo "build.sh: $tool not found in PATH (gcc: apt-get install -y gcc; go: https://go.dev/dl)" >&2; exit 1; }
done

# -O0: every line of the source is its own code, as the report shows it.
gcc --coverage -O0 -g -Wall -Wextra -o "$out/kvd" "$here/kv/kvd.c" "$here/kv/proto.c"
gcc --coverage -O0 -g -Wall -Wextra -o "$out/kv" "$here/kv/kv.c" "$here/kv/proto.c"

# The Go programs are packages of the vmtest module; -cover instruments
# every package of the module they use (text, shared by both).
cd "$here/../.."
go build -cover -o "$out/wordd" ./examples/coverage/word/wordd
go build -cover -o "$out/word" ./examples/coverage/word/word

printf '# Written by build.sh: where the programs are.\nBUILD = "%s"\n' "$out" >"$out/paths.star"
echo "build.sh: built kvd, kv, wordd and word in $out"
