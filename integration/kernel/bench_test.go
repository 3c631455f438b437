//go:build kernel

package kernel

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/integration/wanrelay"
)

// BenchmarkKernelClient measures the Linux NFS client in the guest
// (guest/bench.sh): sequential read of one large file and stat, read and
// create of small files, each through
//
//	proxy   the proxy, which reaches ganesha through a WAN relay (10 ms RTT)
//	wan     ganesha through the same WAN relay, no proxy
//	direct  ganesha on loopback, no delay
//
// "cold" is the first time the server side is asked for the data, "warm"
// the second (the guest's caches are dropped before each step). One boot
// does all three; run it once:
//
//	go test -tags kernel -run '^$' -bench KernelClient -benchtime 1x ./integration/kernel/
//
// NFSCACHEPROXY_KERNEL_BENCH_DELAY (one-way, default 5ms),
// NFSCACHEPROXY_KERNEL_BENCH_MIB (large file, default 128) and
// NFSCACHEPROXY_KERNEL_BENCH_FILES (small files, default 1000) tune it.
func BenchmarkKernelClient(b *testing.B) {
	ctx := b.Context()
	delay, err := time.ParseDuration(envOr("NFSCACHEPROXY_KERNEL_BENCH_DELAY", "5ms"))
	if err != nil {
		b.Fatal(err)
	}
	mib, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_BENCH_MIB", "128"))
	files, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_BENCH_FILES", "1000"))
	cpus, _ := strconv.Atoi(envOr("NFSCACHEPROXY_KERNEL_CPUS", "1"))
	runDir := b.TempDir()

	guest, err := EnsureGuest(ctx, GuestOptions{CacheDir: os.Getenv("NFSCACHEPROXY_KERNEL_CACHE"), Log: os.Stderr})
	if err != nil {
		b.Fatal(err)
	}
	g := harness.StartGaneshaT(b, harness.GaneshaOptions{})
	if err := makeBenchData(filepath.Join(g.Dir, "kbench"), mib, files); err != nil {
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

	targets := []Target{
		{Name: "proxy", NFSPort: px.Port, MountPort: px.Port, Mode: "ttl"},
		{Name: "wan", NFSPort: nfsRelay.Port(), MountPort: mntRelay.Port(), Mode: "direct"},
		{Name: "direct", NFSPort: g.NFSPort, MountPort: g.MountPort, Mode: "direct"},
	}
	share, err := NewShare(ctx, ShareOptions{Dir: filepath.Join(runDir, "share"),
		Upstream: Target{Name: "upstream", NFSPort: g.NFSPort, MountPort: g.MountPort},
		Targets:  targets, Export: g.Export, Bench: true})
	if err != nil {
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
	fmt.Fprintf(&table, "guest %s, %d vCPU, %d MiB file, %d small files, WAN one-way delay %v\n",
		vm.Accel(), cpus, mib, files, delay)
	fmt.Fprintf(&table, "| measurement | proxy (10 ms RTT upstream) | ganesha over the WAN | ganesha on loopback |\n|---|---|---|---|\n")
	res := map[string]map[string]BenchResult{}
	var order []string
	for _, tg := range targets {
		rs, err := share.Bench(tg.Name)
		if err != nil {
			b.Fatalf("%v\nconsole:\n%s", err, tail(console.Name(), 30))
		}
		res[tg.Name] = map[string]BenchResult{}
		for _, r := range rs {
			if tg.Name == "proxy" {
				order = append(order, r.Name)
			}
			res[tg.Name][r.Name] = r
			b.ReportMetric(r.Value, tg.Name+"-"+r.Name+"-"+strings.ReplaceAll(r.Unit, "/", "_per_"))
		}
	}
	for _, name := range order {
		fmt.Fprintf(&table, "| %s |", name)
		for _, tg := range targets {
			r := res[tg.Name][name]
			fmt.Fprintf(&table, " %.1f %s |", r.Value, r.Unit)
		}
		table.WriteString("\n")
	}
	for _, tg := range targets {
		if ops, err := os.ReadFile(filepath.Join(share.ResultDir(tg.Name), "bench.ops")); err == nil {
			fmt.Fprintf(&table, "\nNFSv3 calls of the guest, %s:\n%s", tg.Name, ops)
		}
	}
	// Not b.Logf: benchmark logs are cut after a few lines without -v.
	fmt.Fprintf(os.Stderr, "kernel client throughput:\n%s", table.String())
}

// makeBenchData writes dir/seq.bin (mib MiB of random bytes) and files
// 4 KiB files in dir/small, readable by everyone.
func makeBenchData(dir string, mib, files int) error {
	if err := os.MkdirAll(filepath.Join(dir, "small"), 0o755); err != nil {
		return err
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
