//go:build kernel

package kernel

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/integration/wanrelay"
)

// BenchmarkKernelClient measures the Linux NFS client in the guest
// (guest/bench.sh): sequential and random reads (fio), stat, read and
// create of small files, `ls -l` of a directory, each through
//
//	proxy       the proxy on the host, which reaches ganesha through a WAN
//	            relay (10 ms RTT)
//	guestproxy  the same proxy binary inside the guest (paying the emulated
//	            CPU like knfsd), in front of the same relay
//	knfsd       knfsd in the guest re-exporting an NFSv3 mount of ganesha
//	            through the same relay, mounted with fsc, cachefilesd
//	            caching on the guest's disk (guest/setup-knfsd.sh); the
//	            client mounts it over the guest's loopback
//	wan         ganesha through the same WAN relay, no cache
//	direct      ganesha on loopback, no delay
//
// "cold" is the first time the server side is asked for the data, "warm"
// the second (the guest's caches, page cache included, are dropped before
// each step; fscache's and the proxies' disk caches stay). It boots the
// bench guest (EnsureBenchGuest: the test guest plus nfs-kernel-server,
// cachefilesd and fio), never the test guest CI uses. One boot does all the
// targets; run it once:
//
//	go test -tags kernel -run '^$' -bench KernelClient -benchtime 1x ./integration/kernel/
//
// NFSCACHEPROXY_KERNEL_BENCH_TARGETS (default "proxy guestproxy knfsd wan
// direct"), NFSCACHEPROXY_KERNEL_BENCH_DELAY (one-way, default 5ms),
// NFSCACHEPROXY_KERNEL_BENCH_MIB (large file, default 128),
// NFSCACHEPROXY_KERNEL_BENCH_FILES (small files, default 1000) and
// NFSCACHEPROXY_KERNEL_BENCH_LIST (entries listed by `ls -l`, default 2000)
// tune it.
func BenchmarkKernelClient(b *testing.B) {
	ctx := b.Context()
	delay, err := time.ParseDuration(envOr("NFSCACHEPROXY_KERNEL_BENCH_DELAY", "5ms"))
	if err != nil {
		b.Fatal(err)
	}
	mib, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_BENCH_MIB", "128"))
	files, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_BENCH_FILES", "1000"))
	listed, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_BENCH_LIST", "2000"))
	want := strings.Fields(envOr("NFSCACHEPROXY_KERNEL_BENCH_TARGETS", "proxy guestproxy knfsd wan direct"))
	cpus, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_CPUS", "1"))
	runDir := b.TempDir()

	guest, err := EnsureBenchGuest(ctx, GuestOptions{CacheDir: os.Getenv("NFSCACHEPROXY_KERNEL_CACHE"), Log: os.Stderr})
	if err != nil {
		b.Fatal(err)
	}
	g := harness.StartGaneshaT(b, harness.GaneshaOptions{})
	if err := makeBenchData(filepath.Join(g.Dir, "kbench"), mib, files, listed); err != nil {
		b.Fatal(err)
	}
	relay := func(port int) *wanrelay.Relay {
		r, err := wanrelay.Start(wanrelay.Options{Target: fmt.Sprintf("127.0.0.1:%d", port), Delay: delay})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { r.Close() })
		return r
	}
	nfsRelay, mntRelay := relay(g.NFSPort), relay(g.MountPort)

	bin := filepath.Join(runDir, "nfscacheproxy")
	if err := BuildProxy(ctx, ".", bin); err != nil {
		b.Fatal(err)
	}
	flags, err := ServeFlags(bin)
	if err != nil {
		b.Fatal(err)
	}
	po := ProxyOptions{Bin: bin, UpstreamHost: "127.0.0.1", UpstreamExport: g.Export,
		UpstreamNFSPort: nfsRelay.Port(), UpstreamMountPort: mntRelay.Port(), LogPath: filepath.Join(runDir, "proxy.log")}
	if flags["config"] {
		if po.Port, err = FreePort(); err != nil {
			b.Fatal(err)
		}
		pc := ProxyConfig{Port: po.Port, UpstreamHost: "127.0.0.1", UpstreamExport: g.Export,
			UpstreamNFSPort: nfsRelay.Port(), UpstreamMountPort: mntRelay.Port(),
			CacheDir: filepath.Join(runDir, "proxy-cache"), Mode: envOr("NFSCACHEPROXY_KERNEL_COHERENCY", "ttl")}
		po.Config = filepath.Join(runDir, "proxy.yaml")
		if err := os.WriteFile(po.Config, []byte(pc.YAML()), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(pc.CacheDir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	px, err := StartProxy(ctx, po)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(px.Close)

	const guestProxyPort, knfsdMountPort = 20490, 20048 // inside the guest
	all := map[string]Target{
		"proxy": {Name: "proxy", NFSPort: px.Port, MountPort: px.Port, Mode: "ttl"},
		"guestproxy": {Name: "guestproxy", NFSPort: guestProxyPort, MountPort: guestProxyPort, Mode: "ttl",
			Server: "127.0.0.1", Setup: "guestproxy", FarNFSPort: nfsRelay.Port(), FarMountPort: mntRelay.Port()},
		"knfsd": {Name: "knfsd", NFSPort: 2049, MountPort: knfsdMountPort, Mode: "direct",
			Server: "127.0.0.1", Export: "/srv/far", Setup: "knfsd", FarNFSPort: nfsRelay.Port(), FarMountPort: mntRelay.Port()},
		"wan":    {Name: "wan", NFSPort: nfsRelay.Port(), MountPort: mntRelay.Port(), Mode: "direct"},
		"direct": {Name: "direct", NFSPort: g.NFSPort, MountPort: g.MountPort, Mode: "direct"},
	}
	var targets []Target
	for _, name := range want {
		tg, ok := all[name]
		if !ok {
			b.Fatalf("NFSCACHEPROXY_KERNEL_BENCH_TARGETS: unknown target %q", name)
		}
		targets = append(targets, tg)
	}
	share, err := NewShare(ctx, ShareOptions{Dir: filepath.Join(runDir, "share"),
		Upstream: Target{Name: "upstream", NFSPort: g.NFSPort, MountPort: g.MountPort},
		Targets:  targets, Export: g.Export, Bench: true})
	if err != nil {
		b.Fatal(err)
	}
	// The guest's proxy: the same binary and configuration as the host's,
	// but its upstream is the relay as the guest reaches it (10.0.2.2) and
	// its cache is on the guest's disk.
	if err := copyFile(bin, filepath.Join(share.Dir, "bin", "nfscacheproxy")); err != nil {
		b.Fatal(err)
	}
	gpc := ProxyConfig{Port: guestProxyPort, UpstreamHost: guestHost, UpstreamExport: g.Export,
		UpstreamNFSPort: nfsRelay.Port(), UpstreamMountPort: mntRelay.Port(),
		CacheDir: "/var/cache/nfscacheproxy", Mode: envOr("NFSCACHEPROXY_KERNEL_COHERENCY", "ttl")}
	if err := os.WriteFile(filepath.Join(share.Dir, "guestproxy.yaml"), []byte(gpc.YAML()), 0o644); err != nil {
		b.Fatal(err)
	}
	console, err := os.Create(filepath.Join(runDir, "console.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer console.Close()
	vm, err := NewVM(ctx, VMOptions{Guest: guest, ShareDir: share.Dir, Accel: os.Getenv("NFSCACHEPROXY_KERNEL_ACCEL"),
		CPUs: cpus, Timeout: time.Hour, Console: console})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := vm.Run(ctx); err != nil {
		b.Fatalf("%v\nconsole:\n%s", err, tail(console.Name(), 30))
	}
	b.StopTimer()

	var table strings.Builder
	fmt.Fprintf(&table, "guest %s (kernel %s), %d vCPU, %d MiB file, %d small files, %d listed, WAN one-way delay %v\n",
		vm.Accel(), guest.Version, cpus, mib, files, listed, delay)
	table.WriteString("| measurement |")
	for _, tg := range targets {
		fmt.Fprintf(&table, " %s |", tg.Name)
	}
	table.WriteString("\n|---|" + strings.Repeat("---:|", len(targets)) + "\n")
	res := map[string]map[string]BenchResult{}
	var order []string
	failed := 0
	for _, tg := range targets {
		res[tg.Name] = map[string]BenchResult{}
		rs, err := share.Bench(tg.Name)
		if err != nil {
			// One target that cannot run (its setup failed) must not hide
			// the others: say why and go on.
			failed++
			fmt.Fprintf(os.Stderr, "kernel bench: target %s: %v (%s)\n", tg.Name, err, share.result(tg.Name).Error)
			continue
		}
		for _, r := range rs {
			if !slices.Contains(order, r.Name) {
				order = append(order, r.Name)
			}
			res[tg.Name][r.Name] = r
			b.ReportMetric(r.Value, tg.Name+"-"+r.Name+"-"+strings.ReplaceAll(r.Unit, "/", "_per_"))
		}
	}
	for _, name := range order {
		fmt.Fprintf(&table, "| %s |", name)
		for _, tg := range targets {
			if r, ok := res[tg.Name][name]; ok {
				fmt.Fprintf(&table, " %.1f %s |", r.Value, r.Unit)
			} else {
				table.WriteString(" — |")
			}
		}
		table.WriteString("\n")
	}
	for _, tg := range targets {
		for _, f := range []string{"bench.ops", "knfsd.info", "fscache.stats", "fscache.du", "cache.du", "error", "setup.log"} {
			if tg.Setup == "" && f == "setup.log" {
				continue
			}
			if out, err := os.ReadFile(filepath.Join(share.ResultDir(tg.Name), f)); err == nil {
				fmt.Fprintf(&table, "\n%s, %s:\n%s", tg.Name, f, out)
			}
		}
	}
	// Not b.Logf: benchmark logs are cut after a few lines without -v.
	fmt.Fprintf(os.Stderr, "kernel client throughput:\n%s", table.String())
	if failed == len(targets) {
		b.Fatalf("no target ran; console:\n%s", tail(console.Name(), 30))
	}
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// makeBenchData writes dir/seq.bin (mib MiB of random bytes), dir/rand.bin
// (64 MiB, for random reads), files 4 KiB files in dir/small and listed
// empty files in dir/list, readable by everyone.
func makeBenchData(dir string, mib, files, listed int) error {
	for _, d := range []string{"small", "list"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := writeRandom(filepath.Join(dir, "rand.bin"), 64); err != nil {
		return err
	}
	for i := 0; i < listed; i++ {
		if err := os.WriteFile(filepath.Join(dir, "list", fmt.Sprintf("l%06d", i)), nil, 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, "seq.bin"))
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	for i := 0; i < mib; i++ {
		buf[0] = byte(i)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	for i := 0; i < files; i++ {
		if err := os.WriteFile(filepath.Join(dir, "small", fmt.Sprintf("s%06d", i)), buf[i%256*4096:][:4096], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// writeRandom writes mib MiB of random bytes to path.
func writeRandom(path string, mib int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	for i := 0; i < mib; i++ {
		rand.Read(buf)
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
