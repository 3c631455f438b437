# nfscacheproxy — the two commands a newcomer needs:
#   make demo   run the proxy in front of an embedded upstream and print the mount command
#   make test   install the test dependencies (Debian) and run every test
# Both work as root on a minimal Debian image (no sudo there) and as a normal
# user: the targets that need root re-run themselves through sudo only when
# they are not root.
GO ?= go

# AS_ROOT re-runs the current target through sudo when make is not root,
# keeping PATH (for go) and the Go caches; as root it is empty.
UID := $(shell id -u)
ifeq ($(UID),0)
AS_ROOT :=
else
AS_ROOT = @command -v sudo >/dev/null 2>&1 || { echo "make $@: must run as root (it installs Debian packages and starts rpcbind and nfs-ganesha) and sudo is not installed" >&2; exit 1; }; \
	exec sudo env PATH="$$PATH" HOME="$$HOME" GOCACHE="$$($(GO) env GOCACHE)" GOMODCACHE="$$($(GO) env GOMODCACHE)" $(MAKE) $@
endif

.PHONY: demo test unit integration fuzz vet build bench soak kernel kernel-modes stress

demo:
	$(GO) run ./cmd/nfscacheproxy demo

# build = the production binary (links no test tooling) and the benchmark
# and soak driver, which starts nfs-ganesha and runs the first.
# -buildvcs=auto: stamp the VCS revision (shown by `nfscacheproxy version`) even where
# GOFLAGS turns stamping off machine-wide; outside a git checkout it is simply left out.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o bin/nfscacheproxy ./cmd/nfscacheproxy
	$(GO) build -trimpath -o bin/nfscacheproxy-bench ./cmd/nfscacheproxy-bench

# test = deps + vet + every package under the race detector (the integration
# tests start real nfs-ganesha and libnfs clients) + a bounded fuzz pass +
# the Linux kernel client's quick group in a QEMU guest (integration/kernel,
# build tag "kernel": it runs alone, after the rest, as it takes a core).
test:
ifneq ($(UID),0)
	$(AS_ROOT)
else
	scripts/deps.sh
	$(GO) vet ./...
	$(GO) vet -tags kernel ./integration/kernel/
	$(GO) test -race -count=1 -timeout 40m ./...
	scripts/fuzz.sh
	NFSCACHEPROXY_KERNEL_GROUP=quick $(GO) test -tags kernel -count=1 -timeout 45m -run '^TestKernelClient$$' ./integration/kernel/
endif

# stress = the flakiness hunt: every unit package 20 times and the integration
# packages 3 times under the race detector. Run it beside a CPU-heavy job
# (e.g. stress-ng --cpu 2) to see what a busy CI machine sees. Not part of
# make test: it takes about an hour on 2 cores.
STRESS_UNIT_COUNT ?= 20
STRESS_INTEGRATION_COUNT ?= 3
stress:
ifneq ($(UID),0)
	$(AS_ROOT)
else
	scripts/deps.sh
	$(GO) test -race -count=$(STRESS_UNIT_COUNT) -timeout 120m $$($(GO) list ./... | grep -v /integration)
	NFSCACHEPROXY_MODEL_STEPS=3000 NFSCACHEPROXY_MODEL_SEEDS=1,2,3,4,5,6,7,8 \
		$(GO) test -race -count=$(STRESS_INTEGRATION_COUNT) -timeout 120m ./integration/...
endif

# kernel = the full kernel-client suite (group auto, ~45 min under TCG).
kernel:
	scripts/kernel-suite.sh auto

# kernel-modes = the kernel client's quick group through the proxy in each
# coherency mode: cto and static (proxy only), then ttl with the direct
# baseline. Three boots, ≈ 12 min under TCG; not part of make test.
kernel-modes:
	NFSCACHEPROXY_KERNEL_COHERENCY=cto NFSCACHEPROXY_KERNEL_TARGETS=proxy scripts/kernel-suite.sh quick
	NFSCACHEPROXY_KERNEL_COHERENCY=static NFSCACHEPROXY_KERNEL_TARGETS=proxy scripts/kernel-suite.sh quick
	NFSCACHEPROXY_KERNEL_COHERENCY=ttl scripts/kernel-suite.sh quick

unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /integration)

integration:
ifneq ($(UID),0)
	$(AS_ROOT)
else
	scripts/deps.sh
	$(GO) test -race -count=1 -timeout 40m ./integration/...
endif

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
ifneq ($(UID),0)
	$(AS_ROOT)
else
	scripts/deps.sh
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/nfscacheproxy ./cmd/nfscacheproxy
	$(GO) build -trimpath -o bin/nfscacheproxy-bench ./cmd/nfscacheproxy-bench
	bin/nfscacheproxy-bench --proxy-bin bin/nfscacheproxy --matrix $(BENCHFLAGS)
endif

# soak = the long soak (default 10 minutes; SOAKFLAGS='--duration 1h'):
# clients against the proxy binary in front of a restarting nfs-ganesha,
# every byte checked; as root. make test runs a 25 s one (integration TestSoak).
SOAKFLAGS ?= --duration 10m
soak:
ifneq ($(UID),0)
	$(AS_ROOT)
else
	scripts/deps.sh
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/nfscacheproxy ./cmd/nfscacheproxy
	$(GO) build -trimpath -o bin/nfscacheproxy-bench ./cmd/nfscacheproxy-bench
	bin/nfscacheproxy-bench --proxy-bin bin/nfscacheproxy --soak $(SOAKFLAGS)
endif
