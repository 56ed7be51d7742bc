#!/usr/bin/env bash
# make.sh: set up and run vmtest on a Debian machine. Every verb installs
# what it needs first (apt packages, Go modules) and is idempotent.
#
#   ./make.sh example   build vmtest and run examples/quake.star (an OpenArena server and client)
#   ./make.sh test      vet, check formatting, run the whole test suite
#   ./make.sh bench     run the benchmarks (figures in README.md)
#   ./make.sh fuzz      run every fuzz target for FUZZTIME (default 60s) each, one at a time
#   ./make.sh build     build bin/vmtest only
#   ./make.sh deps      install the prerequisites only
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages vmtest and its tests use. qemu-system-x86 brings qboot
# (qemu-system-data); linux-image-amd64 is the guest kernel with its modules;
# busybox-static is the reference guest of the boot benchmark. lcov and gcc
# (gcov) make coverage reports; chromium renders one in the tests. The
# network tests and examples use vde2 (vde_switch, vde_plug), tcpdump,
# apache2 (examples/proxy.star) and iperf3 (the switch benchmark); tmux is
# the terminal the prompt's tests type into. tesseract-ocr reads machines'
# screens (get_screen_text, wait_for_text), on the host.
PACKAGES=(qemu-system-x86 qemu-utils linux-image-amd64 e2fsprogs busybox-static cpio iputils-ping python3 curl
	lcov gcc chromium vde2 tcpdump apache2 iperf3 tmux tesseract-ocr)
# The service examples run Debian's own daemons in the guests, from the
# host's files: they are installed here, but not started on the host.
PACKAGES+=(openssh-server openssh-client libapache2-mod-svn subversion postgresql postgresql-client
	python3-psycopg2 nfs-kernel-server nfs-common nginx)
# The IPv6 tests run a router that sends router advertisements (radvd).
PACKAGES+=(radvd)
# SPEC's build() example makes a certificate with openssl on the host.
PACKAGES+=(openssl)
# Machines with x11 = True run the host's X server (Xorg with its evdev
# input driver; xdpyinfo and xwininfo from x11-utils); the X tests open an
# xterm in a DejaVu font, and examples/quake.star plays OpenArena.
PACKAGES+=(xserver-xorg-core xserver-xorg-input-evdev x11-utils xterm fonts-dejavu-core
	openarena openarena-server)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

deps() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "make.sh: installing ${missing[*]}"
		local log
		log=$(mktemp)
		# A policy-rc.d that says no keeps the packages' services from
		# starting on the host during the install (unless one exists).
		local policy=""
		if [ ! -e /usr/sbin/policy-rc.d ]; then
			policy=/usr/sbin/policy-rc.d
			as_root sh -c "printf '#!/bin/sh\nexit 101\n' > $policy && chmod 755 $policy"
		fi
		if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
			cat "$log" >&2
			rm -f "$log"
			[ -z "$policy" ] || as_root rm -f "$policy"
			exit 1
		fi
		[ -z "$policy" ] || as_root rm -f "$policy"
		rm -f "$log"
	fi
	if ! command -v go >/dev/null; then
		[ -x /usr/local/go/bin/go ] && export PATH="/usr/local/go/bin:$PATH"
	fi
	command -v go >/dev/null || { echo "make.sh: Go 1.26 or newer is needed (https://go.dev/dl); put it in PATH" >&2; exit 1; }
	go mod download
}

build() {
	deps
	mkdir -p bin
	# Static: the same binary is the guest agent, PID 1 in every machine.
	# No symbol tables: a smaller initramfs for the guest kernel to unpack.
	CGO_ENABLED=0 go build -ldflags='-s -w' -o bin/vmtest ./cmd/vmtest
}

# fuzz runs each fuzz target (FUZZ: a regexp of target names, default
# all) for FUZZTIME with FUZZWORKERS workers (default 1: the host is
# shared), one target at a time, and prints a line per target with its
# executions and whether it found a crasher, which go test writes to the
# package's testdata/fuzz/<target>/ (it then stays there as a seed case).
fuzz() {
	local time=${FUZZTIME:-60s} workers=${FUZZWORKERS:-1} pattern=${FUZZ:-.} failed=0 log
	log=$(mktemp)
	printf '%-55s %12s  %s\n' "target" "executions" "result"
	for file in $(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do
		for target in $(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file" | grep -E "$pattern"); do
			local pkg result execs
			pkg=./$(dirname "$file")
			if go test -run '^$' -fuzz "^$target\$" -fuzztime "$time" -parallel "$workers" "$pkg" >"$log" 2>&1; then
				result=ok
			else
				result="CRASHER: $(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -1)"
				failed=1
			fi
			execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
			printf '%-55s %12s  %s\n' "$pkg $target" "${execs:-?}" "$result"
			[ "$result" = ok ] || sed 's/^/    /' "$log" | tail -n 30
		done
	done
	rm -f "$log"
	return $failed
}

case "${1:-}" in
deps) deps ;;
build) build ;;
example)
	build
	bin/vmtest run examples/quake.star
	;;
test)
	build
	unformatted=$(gofmt -l $(git ls-files '*.go'))
	[ -z "$unformatted" ] || { echo "gofmt would change: $unformatted" >&2; exit 1; }
	go vet ./...
	go test -count=1 -timeout 25m ./...
	;;
bench)
	build
	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/
	;;
fuzz)
	deps
	fuzz
	;;
*)
	sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
	exit 2
	;;
esac
