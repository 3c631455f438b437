package kernel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultCacheDir is where built guests are kept between runs.
const DefaultCacheDir = "/var/cache/nfscacheproxy-kernel"

// GuestOptions configure [EnsureGuest]. The zero value works when the
// current directory is integration/kernel (as under go test).
type GuestOptions struct {
	// CacheDir holds one directory per builder key. Default DefaultCacheDir.
	CacheDir string
	// Script is build-guest.sh. Default "build-guest.sh".
	Script string
	// Log receives the builder's progress lines. Default io.Discard.
	Log io.Writer
}

func (o *GuestOptions) setDefaults() {
	if o.CacheDir == "" {
		o.CacheDir = DefaultCacheDir
	}
	if o.Script == "" {
		o.Script = "build-guest.sh"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Guest is a built guest: a kernel, its initrd and a root filesystem image
// (booted read-only: QEMU writes go to a throw-away overlay).
type Guest struct {
	Dir     string
	Kernel  string
	Initrd  string
	Root    string
	Version string // kernel release, e.g. 6.1.0-50-amd64

	// Built is true when this call built the guest; BuildTime is how long
	// that took.
	Built     bool
	BuildTime time.Duration
}

// guestKey hashes what determines the guest: the builder script.
func guestKey(script []byte) string {
	h := sha256.New()
	h.Write([]byte("ksuite-guest-v1\n"))
	h.Write(script)
	return "guest-" + hex.EncodeToString(h.Sum(nil))[:16]
}

// EnsureGuest returns the cached guest for the current builder script,
// building it first when there is none.
func EnsureGuest(ctx context.Context, opts GuestOptions) (*Guest, error) {
	opts.setDefaults()
	script, err := os.ReadFile(opts.Script)
	if err != nil {
		return nil, fmt.Errorf("kernel: build guest: %w", err)
	}
	if err := os.MkdirAll(opts.CacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("kernel: build guest: cache dir: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(opts.CacheDir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	dir := filepath.Join(opts.CacheDir, guestKey(script))
	g := &Guest{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"),
		Root: filepath.Join(dir, "root.img")}
	if _, err := os.Stat(filepath.Join(dir, "kernel-version")); err != nil {
		if os.Getuid() != 0 {
			return nil, fmt.Errorf("kernel: build guest: no cached guest in %s and not root: run `sudo go test ./integration/kernel/` once", dir)
		}
		os.RemoveAll(dir) // a half-built one
		// Run the exact bytes that were hashed (bash reads a script as it
		// goes, so an edit during the build would otherwise leak in).
		scriptCopy := dir + ".build-guest.sh"
		if err := os.WriteFile(scriptCopy, script, 0o755); err != nil {
			return nil, fmt.Errorf("kernel: build guest: %w", err)
		}
		defer os.Remove(scriptCopy)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", scriptCopy, dir)
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
		cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("kernel: build guest with %s: %w (see its output above)", opts.Script, err)
		}
		g.Built, g.BuildTime = true, time.Since(start)
	}
	v, err := os.ReadFile(filepath.Join(dir, "kernel-version"))
	if err != nil {
		return nil, fmt.Errorf("kernel: guest in %s: %w", dir, err)
	}
	g.Version = string(bytes.TrimSpace(v))
	for _, p := range []string{g.Kernel, g.Initrd, g.Root} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("kernel: guest in %s is incomplete (remove it to rebuild): %w", dir, err)
		}
	}
	return g, nil
}

// lockFile takes an exclusive flock on path, giving up when ctx ends.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("kernel: lock %s: %w", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != syscall.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("kernel: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("kernel: lock %s: %w", path, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// BenchGuestScript is the builder of the benchmark guest, relative to
// integration/kernel.
const BenchGuestScript = "build-bench-guest.sh"

// EnsureBenchGuest returns the benchmark guest: the test guest of
// [EnsureGuest] (built first when missing, and left as it is) copied and
// given nfs-kernel-server, cachefilesd and fio by build-bench-guest.sh. It
// is cached beside the test guest under its own key, a hash of the test
// guest's key and of that script, so the test guest's key (and CI's cached
// image) does not depend on it. opts.Script names build-guest.sh as for
// EnsureGuest; the bench script is looked up next to it.
func EnsureBenchGuest(ctx context.Context, opts GuestOptions) (*Guest, error) {
	opts.setDefaults()
	base, err := EnsureGuest(ctx, opts)
	if err != nil {
		return nil, err
	}
	scriptPath := filepath.Join(filepath.Dir(opts.Script), BenchGuestScript)
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		return nil, fmt.Errorf("kernel: build bench guest: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(opts.CacheDir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	dir := filepath.Join(opts.CacheDir, benchGuestKey(filepath.Base(base.Dir), script))
	g := &Guest{Dir: dir, Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"),
		Root: filepath.Join(dir, "root.img")}
	if _, err := os.Stat(filepath.Join(dir, "kernel-version")); err != nil {
		if os.Getuid() != 0 {
			return nil, fmt.Errorf("kernel: build bench guest: no cached guest in %s and not root", dir)
		}
		os.RemoveAll(dir) // a half-built one
		scriptCopy := dir + ".build-bench-guest.sh"
		if err := os.WriteFile(scriptCopy, script, 0o755); err != nil {
			return nil, fmt.Errorf("kernel: build bench guest: %w", err)
		}
		defer os.Remove(scriptCopy)
		start := time.Now()
		cmd := exec.CommandContext(ctx, "bash", scriptCopy, base.Dir, dir)
		cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
		cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("kernel: build bench guest with %s: %w (see its output above)", scriptPath, err)
		}
		g.Built, g.BuildTime = true, time.Since(start)
	}
	v, err := os.ReadFile(filepath.Join(dir, "kernel-version"))
	if err != nil {
		return nil, fmt.Errorf("kernel: bench guest in %s: %w", dir, err)
	}
	g.Version = string(bytes.TrimSpace(v))
	for _, p := range []string{g.Kernel, g.Initrd, g.Root} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("kernel: bench guest in %s is incomplete (remove it to rebuild): %w", dir, err)
		}
	}
	return g, nil
}

// benchGuestKey names the benchmark guest's directory: "bench-" and a hash
// of the test guest's key and the bench builder script.
func benchGuestKey(baseKey string, script []byte) string {
	h := sha256.New()
	h.Write([]byte("ksuite-bench-guest-v1\n" + baseKey + "\n"))
	h.Write(script)
	return "bench-" + hex.EncodeToString(h.Sum(nil))[:16]
}
