package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VMOptions configure a [VM]. Guest and ShareDir are required.
type VMOptions struct {
	Guest *Guest
	// ShareDir is exported to the guest over virtio-9p with the tag
	// "ksuite" (see [Share]).
	ShareDir string
	// Accel is "kvm", "tcg" or "auto" (default): KVM when a probe boot
	// shows that /dev/kvm runs a kernel here, else TCG.
	Accel string
	// MemoryMiB default 1536; CPUs default 1.
	MemoryMiB, CPUs int
	// Timeout is the hard limit of the run; QEMU is killed after it.
	// Default 30m.
	Timeout time.Duration
	// Console receives every line of the serial console. Default discard.
	Console io.Writer
	// ProbeDir caches the KVM probe's verdict. Default the guest's parent
	// directory.
	ProbeDir string
	// GuestFwd are QEMU user-network guest forwards: a connection of the
	// guest to Addr:Port runs Cmd on the host (once per connection) with
	// the connection as its stdin and stdout (see [GuestFwd]).
	GuestFwd []GuestFwd
}

// GuestFwd is one guestfwd rule: TCP connections of the guest to
// Addr:Port (an unused address of the user network, e.g. 10.0.2.100) run
// Cmd on the host. With `ktool relay 127.0.0.1:P` as Cmd they reach host
// port P: that is how the guest gets a second server address whose port
// 111 is not the host's rpcbind.
type GuestFwd struct {
	Addr string
	Port int
	Cmd  string // no commas
}

// VM is one boot of the guest.
type VM struct {
	opts  VMOptions
	accel string
}

// NewVM checks the options and picks the accelerator (probing KVM once
// per host kernel and QEMU version).
func NewVM(ctx context.Context, opts VMOptions) (*VM, error) {
	if opts.Guest == nil || opts.ShareDir == "" {
		return nil, errors.New("kernel: VMOptions.Guest and ShareDir are required")
	}
	if opts.MemoryMiB == 0 {
		opts.MemoryMiB = 1536
	}
	if opts.CPUs == 0 {
		opts.CPUs = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Minute
	}
	if opts.Console == nil {
		opts.Console = io.Discard
	}
	for _, f := range opts.GuestFwd {
		if strings.Contains(f.Cmd, ",") || f.Addr == "" || f.Port <= 0 {
			return nil, fmt.Errorf("kernel: GuestFwd %+v: want an address, a port and a command without commas", f)
		}
	}
	if opts.ProbeDir == "" {
		opts.ProbeDir = filepath.Dir(opts.Guest.Dir)
	}
	if _, err := qemuBinary(); err != nil {
		return nil, err
	}
	vm := &VM{opts: opts}
	switch opts.Accel {
	case "kvm", "tcg":
		vm.accel = opts.Accel
	case "", "auto":
		vm.accel = "tcg"
		if kvmBoots(ctx, opts.Guest, opts.ProbeDir, opts.Console) {
			vm.accel = "kvm"
		}
	default:
		return nil, fmt.Errorf("kernel: VMOptions.Accel %q: want kvm, tcg or auto", opts.Accel)
	}
	return vm, nil
}

// Accel is the accelerator the VM boots with.
func (vm *VM) Accel() string { return vm.accel }

func qemuBinary() (string, error) {
	if p, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		return p, nil
	}
	return "", errors.New("kernel: qemu-system-x86_64 not found: install the Debian package qemu-system-x86 (build-guest.sh does, as root)")
}

// qemuArgs is the command line booting g with accel; extra kernel
// arguments go after the standard ones.
func qemuArgs(g *Guest, accel string, mem, cpus int, share, cmdline string, fwd []GuestFwd) []string {
	args := []string{
		"-accel", accel,
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", g.Kernel,
		"-append", "console=ttyS0 panic=-1 " + cmdline,
	}
	if accel == "kvm" {
		args = append(args, "-cpu", "host")
	}
	if share != "" {
		args = append(args,
			"-initrd", g.Initrd,
			"-drive", "file="+g.Root+",format=raw,if=virtio,snapshot=on",
			"-netdev", netdev(fwd), "-device", "virtio-net-pci,netdev=n0",
			"-fsdev", "local,id=ks,path="+share+",security_model=none",
			"-device", "virtio-9p-pci,fsdev=ks,mount_tag=ksuite")
	}
	return args
}

// netdev is the -netdev value: user networking with the guest forwards.
func netdev(fwd []GuestFwd) string {
	var b strings.Builder
	b.WriteString("user,id=n0")
	for _, f := range fwd {
		fmt.Fprintf(&b, ",guestfwd=tcp:%s:%d-cmd:%s", f.Addr, f.Port, f.Cmd)
	}
	return b.String()
}

// Run boots the guest and returns when it powers off. It fails when QEMU
// fails or the hard timeout kills it.
func (vm *VM) Run(ctx context.Context) error {
	bin, err := qemuBinary()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, vm.opts.Timeout)
	defer cancel()
	share, err := filepath.Abs(vm.opts.ShareDir)
	if err != nil {
		return err
	}
	args := qemuArgs(vm.opts.Guest, vm.accel, vm.opts.MemoryMiB, vm.opts.CPUs, share,
		"root=/dev/vda rootfstype=ext4 rw quiet loglevel=4 init=/sbin/ksuite-init", vm.opts.GuestFwd)
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	cmd.Stderr = cmd.Stdout
	// Its own process group (killed whole at the timeout), and killed if
	// this process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("kernel: start qemu: %w", err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyLines(vm.opts.Console, out)
	}()
	done := make(chan error, 1)
	go func() {
		wg.Wait() // all output read before Wait closes the pipe
		done <- cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kernel: qemu: %w", err)
		}
		return nil
	case <-ctx.Done():
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("kernel: guest did not power off within %v: killed", vm.opts.Timeout)
	}
}

// copyLines copies r to w line by line (so concurrent writers to w do not
// interleave inside a line); carriage returns are dropped.
func copyLines(w io.Writer, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		fmt.Fprintln(w, line)
	}
	io.Copy(io.Discard, r)
}

// kvmBoots reports whether /dev/kvm can boot the guest's kernel: a boot
// with no root device must print the kernel banner within probeTimeout.
// Some hosts expose a /dev/kvm (nested or paravirtual) on which QEMU starts
// but the guest never runs. The verdict is cached in dir per host kernel
// and QEMU version.
func kvmBoots(ctx context.Context, g *Guest, dir string, log io.Writer) bool {
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		return false
	} else {
		f.Close()
	}
	bin, err := qemuBinary()
	if err != nil {
		return false
	}
	var uts syscall.Utsname
	syscall.Uname(&uts)
	qv, _ := exec.Command(bin, "--version").Output()
	key := fmt.Sprintf("%s|%s|%s", utsString(uts.Release[:]), firstLine(qv), g.Version)
	cache := filepath.Join(dir, "kvm-probe")
	if b, err := os.ReadFile(cache); err == nil {
		if v, ok := strings.CutPrefix(string(b), key+"="); ok {
			return strings.TrimSpace(v) == "yes"
		}
	}
	const probeTimeout = 20 * time.Second
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(pctx, bin, qemuArgs(g, "kvm", 256, 1, "", "earlyprintk=serial,ttyS0", nil)...)
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return false
	}
	ok := false
	for !ok && pctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		ok = strings.Contains(buf.String(), "Linux version")
	}
	cancel()
	cmd.Wait()
	verdict := "no"
	if ok {
		verdict = "yes"
	}
	fmt.Fprintf(log, "kernel: KVM probe: %s after %v\n", verdict, time.Since(start).Round(time.Millisecond))
	if ctx.Err() == nil {
		os.WriteFile(cache, []byte(key+"="+verdict+"\n"), 0o644)
	}
	return ok
}

func utsString(b []int8) string {
	s := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
