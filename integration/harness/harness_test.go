package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// startPair starts two instances at once, as concurrent tests would.
func startPair(t *testing.T) [2]*Ganesha {
	t.Helper()
	var (
		gs   [2]*Ganesha
		errs [2]error
		took [2]time.Duration
		wg   sync.WaitGroup
	)
	for i := range gs {
		opts := GaneshaOptions{Dir: t.TempDir(), StateDir: t.TempDir()}
		if err := chmodExport(opts.Dir); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			start := time.Now()
			gs[i], errs[i] = StartGanesha(t.Context(), opts)
			took[i] = time.Since(start)
		})
	}
	wg.Wait()
	for i, g := range gs {
		if g != nil {
			t.Cleanup(func() {
				if err := g.Close(); err != nil {
					t.Errorf("close ganesha %d: %v", i, err)
				}
			})
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start ganesha %d: %v", i, err)
		}
		t.Logf("ganesha %d: pid %d, nfs port %d, mount port %d, started in %v",
			i, gs[i].PID(), gs[i].NFSPort, gs[i].MountPort, took[i].Round(time.Millisecond))
	}
	return gs
}

func TestTwoInstancesServeTheirOwnDirs(t *testing.T) {
	gs := startPair(t)
	ctx := t.Context()

	// Writes first, right after start: Graceless must make them work at once.
	src := filepath.Join(t.TempDir(), "src.bin")
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	if err := os.WriteFile(src, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	for i, g := range gs {
		if _, _, err := RunLibNFS(ctx, "nfs-cp", src, g.URL("copied.bin")); err != nil {
			t.Fatalf("ganesha %d: nfs-cp into export: %v", i, err)
		}
		got, err := os.ReadFile(filepath.Join(g.Dir, "copied.bin"))
		if err != nil || !bytes.Equal(got, payload) {
			t.Fatalf("ganesha %d: local copied.bin: %d bytes, err %v; want the %d bytes sent", i, len(got), err, len(payload))
		}
	}

	for i, g := range gs {
		want := fmt.Sprintf("hello from instance %d\n", i)
		if err := os.WriteFile(filepath.Join(g.Dir, "greeting.txt"), []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _, err := RunLibNFS(ctx, "nfs-cat", g.URL("greeting.txt"))
		if err != nil {
			t.Fatalf("ganesha %d: nfs-cat: %v", i, err)
		}
		if string(out) != want {
			t.Errorf("ganesha %d: nfs-cat got %q; want %q", i, out, want)
		}

		out, _, err = RunLibNFS(ctx, "nfs-ls", g.URL(""))
		if err != nil {
			t.Fatalf("ganesha %d: nfs-ls: %v", i, err)
		}
		for _, name := range []string{"greeting.txt", "copied.bin"} {
			if !strings.Contains(string(out), " "+name+"\n") {
				t.Errorf("ganesha %d: nfs-ls got %q; want an entry %q", i, out, name)
			}
		}

		back := filepath.Join(t.TempDir(), "back.bin")
		if _, _, err := RunLibNFS(ctx, "nfs-cp", g.URL("copied.bin"), back); err != nil {
			t.Fatalf("ganesha %d: nfs-cp out of export: %v", i, err)
		}
		if got, _ := os.ReadFile(back); !bytes.Equal(got, payload) {
			t.Errorf("ganesha %d: nfs-cp out got %d bytes; want %d", i, len(got), len(payload))
		}

		if got := readGoNFS(t, g, 0, 0, "greeting.txt"); got != want {
			t.Errorf("ganesha %d: go-nfs-client read %q; want %q", i, got, want)
		}
	}
}

func TestCredentialsPassThrough(t *testing.T) {
	g := StartGaneshaT(t, GaneshaOptions{})
	ctx := t.Context()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte("owned\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// A non-root uid creates in the 0777 export root and owns the result.
	if _, _, err := RunLibNFS(ctx, "nfs-cp", src, g.URLAs("by1000.txt", 1000, 1000)); err != nil {
		t.Fatalf("nfs-cp as uid 1000: %v", err)
	}
	assertOwner(t, filepath.Join(g.Dir, "by1000.txt"), 1000, 1000)

	// Root is not squashed.
	if _, _, err := RunLibNFS(ctx, "nfs-cp", src, g.URL("byroot.txt")); err != nil {
		t.Fatalf("nfs-cp as root: %v", err)
	}
	assertOwner(t, filepath.Join(g.Dir, "byroot.txt"), 0, 0)

	// Permissions are enforced for the caller's uid: 1000 cannot write
	// into a directory owned by root with mode 0755.
	if err := os.Mkdir(filepath.Join(g.Dir, "rootonly"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, stderr, err := RunLibNFS(ctx, "nfs-cp", src, g.URLAs("rootonly/x.txt", 1000, 1000))
	if err == nil || !strings.Contains(string(stderr), "NFS3ERR_ACCES") {
		t.Errorf("nfs-cp as uid 1000 into a 0755 root dir: err %v, stderr %q; want NFS3ERR_ACCES", err, stderr)
	}
}

func assertOwner(t *testing.T, path string, uid, gid uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != uid || st.Gid != gid {
		t.Errorf("%s: owner %d:%d; want %d:%d", filepath.Base(path), st.Uid, st.Gid, uid, gid)
	}
}

// readGoNFS reads a file through go-nfs-client as uid/gid.
func readGoNFS(t *testing.T, g *Ganesha, uid, gid uint32, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	target, err := g.DialNFS(ctx, uid, gid)
	if err != nil {
		t.Fatalf("go-nfs-client dial: %v", err)
	}
	defer target.Close()
	f, err := target.Open(name)
	if err != nil {
		t.Fatalf("go-nfs-client open %s: %v", name, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("go-nfs-client read %s: %v", name, err)
	}
	return string(b)
}

func TestRestartKeepsPortsAndHandles(t *testing.T) {
	g := StartGaneshaT(t, GaneshaOptions{})
	ctx := t.Context()
	if err := os.WriteFile(filepath.Join(g.Dir, "f.txt"), []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root1, err := g.RootFH(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("root file handle: %d bytes %x", len(root1), root1)
	fh1 := lookupFH(t, g, "f.txt")
	nfsPort, mountPort, pid := g.NFSPort, g.MountPort, g.PID()

	// A client connection stays open across the restart, so the server
	// side of the port has live and TIME_WAIT sockets while ganesha rebinds.
	held, err := g.DialNFS(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	start := time.Now()
	if err := g.Restart(ctx); err != nil {
		t.Fatalf("restart: %v", err)
	}
	t.Logf("graceful restart took %v", time.Since(start).Round(time.Millisecond))
	if g.NFSPort != nfsPort || g.MountPort != mountPort {
		t.Errorf("ports after restart %d/%d; want %d/%d", g.NFSPort, g.MountPort, nfsPort, mountPort)
	}
	if g.PID() == pid {
		t.Errorf("pid after restart %d; want a new process", g.PID())
	}
	assertServes(t, g, "f.txt", "before\n")
	if root2, err := g.RootFH(ctx); err != nil || !bytes.Equal(root2, root1) {
		t.Errorf("root handle after restart %x (err %v); want %x", root2, err, root1)
	}
	if fh2 := lookupFH(t, g, "f.txt"); !bytes.Equal(fh2, fh1) {
		t.Errorf("f.txt handle after restart %x; want %x", fh2, fh1)
	}

	// Crash: SIGKILL, nothing answers, then a restart serves again.
	g.Kill()
	if g.Running() {
		t.Fatal("Running after Kill = true; want false")
	}
	if err := PingRPC(ctx, g.NFSAddr(), progNFS, 3); err == nil {
		t.Error("NFS port answers after Kill; want no answer")
	}
	start = time.Now()
	if err := g.Restart(ctx); err != nil {
		t.Fatalf("restart after kill: %v", err)
	}
	t.Logf("restart after SIGKILL took %v", time.Since(start).Round(time.Millisecond))
	assertServes(t, g, "f.txt", "before\n")
	if fh3 := lookupFH(t, g, "f.txt"); !bytes.Equal(fh3, fh1) {
		t.Errorf("f.txt handle after crash restart %x; want %x", fh3, fh1)
	}

	start = time.Now()
	if err := g.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	t.Logf("stop took %v", time.Since(start).Round(time.Millisecond))
	if err := g.Stop(); err != nil {
		t.Errorf("second stop: %v; want nil", err)
	}
}

func assertServes(t *testing.T, g *Ganesha, name, want string) {
	t.Helper()
	out, _, err := RunLibNFS(t.Context(), "nfs-cat", g.URL(name))
	if err != nil || string(out) != want {
		t.Fatalf("nfs-cat %s: %q, %v; want %q", name, out, err, want)
	}
}

// lookupFH returns the file handle of name in the export root.
func lookupFH(t *testing.T, g *Ganesha, name string) []byte {
	t.Helper()
	target, err := g.DialNFS(t.Context(), 0, 0)
	if err != nil {
		t.Fatalf("go-nfs-client dial: %v", err)
	}
	defer target.Close()
	_, fh, err := target.Lookup(name)
	if err != nil {
		t.Fatalf("go-nfs-client lookup %s: %v", name, err)
	}
	return fh
}

func TestProbes(t *testing.T) {
	g := StartGaneshaT(t, GaneshaOptions{})
	ctx := t.Context()
	tests := []struct {
		name    string
		err     error
		wantSub string // "" means success
	}{
		{"nfs v3 null", PingRPC(ctx, g.NFSAddr(), progNFS, 3), ""},
		{"mount v3 null", PingRPC(ctx, g.MountAddr(), progMount, 3), ""},
		{"portmapper null", PingRPC(ctx, PortmapAddr, progPortmap, 2), ""},
		{"unknown program", PingRPC(ctx, g.NFSAddr(), 100099, 1), "PROG_UNAVAIL"},
		{"nfs v4 not served", PingRPC(ctx, g.NFSAddr(), progNFS, 4), "PROG_MISMATCH"},
		{"mnt of unknown path", mountErr(ctx, g.MountAddr(), "/nope"), "mountstat3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			switch {
			case tt.wantSub == "" && tt.err != nil:
				t.Errorf("got %v; want success", tt.err)
			case tt.wantSub != "" && (tt.err == nil || !strings.Contains(tt.err.Error(), tt.wantSub)):
				t.Errorf("got %v; want an error containing %q", tt.err, tt.wantSub)
			}
		})
	}
}

func mountErr(ctx context.Context, addr, export string) error {
	_, err := MountRoot(ctx, addr, export)
	return err
}

func TestFixedPortInUseFailsFast(t *testing.T) {
	g := StartGaneshaT(t, GaneshaOptions{})
	start := time.Now()
	other, err := StartGanesha(t.Context(), GaneshaOptions{NFSPort: g.NFSPort, StartTimeout: 20 * time.Second})
	if err == nil {
		other.Close()
		t.Fatal("second ganesha on a taken NFS port started; want an error")
	}
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("error %q; want it to quote ganesha's \"Address already in use\"", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("failing on a taken fixed port took %v; want no retries", took)
	}
	if _, err := g.RootFH(t.Context()); err != nil || !g.Running() {
		t.Errorf("first instance after the failed start: running %v, MNT error %v; want it unharmed", g.Running(), err)
	}
}

func TestEnsureRPCBindConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = EnsureRPCBind(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("EnsureRPCBind #%d: %v", i, err)
		}
	}
}
