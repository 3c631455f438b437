# nfscacheproxy — the two commands a newcomer needs:
#   make demo   run the proxy in front of an embedded upstream and print the mount command
#   make test   install the test dependencies (as root, Debian) and run every test
GO ?= go

.PHONY: demo test unit integration fuzz vet build bench kernel

demo:
	$(GO) run ./cmd/nfscacheproxy demo

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/nfscacheproxy ./cmd/nfscacheproxy

# test = deps + vet + every package under the race detector (the integration
# tests start real nfs-ganesha and libnfs clients) + a bounded fuzz pass +
# the Linux kernel client's quick group in a QEMU guest (integration/kernel,
# build tag "kernel": it runs alone, after the rest, as it takes a core).
test:
	scripts/deps.sh
	$(GO) vet ./...
	$(GO) vet -tags kernel ./integration/kernel/
	$(GO) test -race -count=1 -timeout 40m ./...
	scripts/fuzz.sh
	NFSCACHEPROXY_KERNEL_GROUP=quick $(GO) test -tags kernel -count=1 -timeout 45m -run '^TestKernelClient$$' ./integration/kernel/

# kernel = the full kernel-client suite (group auto, ~45 min under TCG).
kernel:
	scripts/kernel-suite.sh auto

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /integration)

integration:
	scripts/deps.sh
	$(GO) test -race -count=1 -timeout 40m ./integration/...

fuzz:
	scripts/fuzz.sh

vet:
	$(GO) vet ./...

# bench = the standard benchmark matrix: nfs-ganesha direct near and far, the
# proxy cold and warm far, over an emulated 10ms-RTT WAN (user-space relay);
# prints it and rewrites the matrix section of BENCHMARKS.md. Must run as
# root (it starts rpcbind and nfs-ganesha, see scripts/deps.sh). About 2
# minutes on 2 cores. Flags: make bench BENCHFLAGS='--rtt 40ms --concurrency 8'
bench:
	scripts/deps.sh
	$(GO) run ./cmd/nfscacheproxy bench --matrix $(BENCHFLAGS)
