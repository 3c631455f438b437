package main

import (
	"bytes"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// fsx is an fsx-style verifier: one file, a model of its bytes, and a
// seeded random sequence of reads, writes, truncates, mmap reads, mmap
// writes, fsyncs, reopens and page-cache drops. Every read (through read(2)
// or a mapping) is compared with the model; the first difference stops the
// run with the recent operation log.
type fsx struct {
	path      string
	f         *os.File
	model     []byte
	rng       *rand.Rand
	maxLen    int64
	mmap      bool
	dropEvery int
	op        int
	log       []string // last operations, for the failure report
}

func runFsx(args []string) error {
	fs := flag.NewFlagSet("fsx", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "random seed")
	ops := fs.Int("ops", 1000, "operations")
	maxLen := fs.String("maxlen", "256K", "maximum file length")
	noMmap := fs.Bool("nommap", false, "no mmap reads or writes")
	dropEvery := fs.Int("dropevery", 200, "drop the page cache every N operations (0: never)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return usageError{"usage: fsx [-seed N] [-ops N] [-maxlen N] [-nommap] [-dropevery N] FILE"}
	}
	ml, err := parseSize(*maxLen)
	if err != nil || ml < 4096 {
		return usageError{"bad -maxlen"}
	}
	x := &fsx{path: fs.Arg(0), rng: rand.New(rand.NewPCG(*seed, 0x6673780a)), maxLen: ml,
		mmap: !*noMmap, dropEvery: *dropEvery}
	x.f, err = os.OpenFile(x.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() { x.f.Close() }()
	for x.op = 1; x.op <= *ops; x.op++ {
		if err := x.step(); err != nil {
			x.report(err)
			return fmt.Errorf("op %d (seed %d): %w", x.op, *seed, err)
		}
	}
	// Final check through a fresh descriptor after a cache drop.
	x.f.Close()
	dropCaches()
	if x.f, err = os.OpenFile(x.path, os.O_RDWR, 0); err != nil {
		return err
	}
	if err := x.checkAll("final"); err != nil {
		x.report(err)
		return err
	}
	fmt.Fprintf(os.Stderr, "fsx: %d operations, seed %d, final size %d\n", *ops, *seed, len(x.model))
	fmt.Println("fsx: all operations verified")
	return nil
}

func (x *fsx) logf(format string, a ...any) {
	s := fmt.Sprintf("%6d ", x.op) + fmt.Sprintf(format, a...)
	x.log = append(x.log, s)
	if len(x.log) > 40 {
		x.log = x.log[len(x.log)-40:]
	}
}

func (x *fsx) report(err error) {
	fmt.Fprintf(os.Stderr, "fsx: FAILED: %v\nlast operations:\n%s\n", err, strings.Join(x.log, "\n"))
}

func (x *fsx) step() error {
	if x.dropEvery > 0 && x.op%x.dropEvery == 0 {
		x.logf("drop caches")
		dropCaches()
	}
	size := int64(len(x.model))
	switch r := x.rng.IntN(100); {
	case r < 30:
		return x.read(size)
	case r < 58:
		return x.write(size)
	case r < 66:
		return x.truncate()
	case r < 76 && x.mmap:
		return x.mapRead(size)
	case r < 86 && x.mmap:
		return x.mapWrite(size)
	case r < 91:
		x.logf("fsync")
		return x.f.Sync()
	case r < 95:
		x.logf("close and reopen")
		if err := x.f.Close(); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		var err error
		x.f, err = os.OpenFile(x.path, os.O_RDWR, 0)
		return err
	default:
		return x.checkAll("stat+full read")
	}
}

// randRange picks an offset and length inside [0, limit).
func (x *fsx) randRange(limit int64) (off, n int64) {
	if limit <= 0 {
		return 0, 0
	}
	off = x.rng.Int64N(limit)
	maxN := min(limit-off, 64<<10)
	n = x.rng.Int64N(maxN) + 1
	return off, n
}

func (x *fsx) read(size int64) error {
	off, n := x.randRange(size)
	if n == 0 {
		return nil
	}
	x.logf("read   %#x..%#x", off, off+n)
	buf := make([]byte, n)
	got, err := x.f.ReadAt(buf, off)
	if int64(got) != n {
		return fmt.Errorf("read %#x+%#x: got %d bytes: %v", off, n, got, err)
	}
	return x.compare("read", buf, off)
}

func (x *fsx) newData(n int64) []byte {
	b := make([]byte, n)
	tag := byte(x.op)
	for i := range b {
		b[i] = byte(x.rng.Uint32()) | 1 // never zero, so a hole is visible
		if i%512 == 0 {
			b[i] = tag
		}
	}
	return b
}

func (x *fsx) write(size int64) error {
	off := x.rng.Int64N(x.maxLen)
	if x.rng.IntN(4) == 0 && size > 0 { // often append or overwrite the tail
		off = max(0, size-x.rng.Int64N(min(size, 8192)))
	}
	n := min(x.rng.Int64N(64<<10)+1, x.maxLen-off)
	data := x.newData(n)
	x.logf("write  %#x..%#x (size %#x)", off, off+n, size)
	if got, err := x.f.WriteAt(data, off); err != nil || int64(got) != n {
		return fmt.Errorf("write %#x+%#x: wrote %d: %v", off, n, got, err)
	}
	x.apply(off, data)
	return nil
}

func (x *fsx) apply(off int64, data []byte) {
	if end := off + int64(len(data)); end > int64(len(x.model)) {
		x.model = append(x.model, make([]byte, end-int64(len(x.model)))...)
	}
	copy(x.model[off:], data)
}

func (x *fsx) truncate() error {
	n := x.rng.Int64N(x.maxLen + 1)
	x.logf("trunc  to %#x (was %#x)", n, len(x.model))
	if err := x.f.Truncate(n); err != nil {
		return fmt.Errorf("truncate to %#x: %w", n, err)
	}
	x.setSize(n)
	return nil
}

func (x *fsx) setSize(n int64) {
	if n <= int64(len(x.model)) {
		x.model = x.model[:n]
		return
	}
	x.model = append(x.model, make([]byte, n-int64(len(x.model)))...)
}

var pageSize = int64(os.Getpagesize())

func (x *fsx) mapRead(size int64) error {
	off, n := x.randRange(size)
	if n == 0 {
		return nil
	}
	pgoff := off &^ (pageSize - 1)
	x.logf("mapread %#x..%#x", off, off+n)
	m, err := unix.Mmap(int(x.f.Fd()), pgoff, int(off-pgoff+n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap read %#x+%#x: %w", off, n, err)
	}
	buf := append([]byte(nil), m[off-pgoff:]...)
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	return x.compare("mapread", buf, off)
}

func (x *fsx) mapWrite(size int64) error {
	off := x.rng.Int64N(x.maxLen)
	n := min(x.rng.Int64N(64<<10)+1, x.maxLen-off)
	if end := off + n; end > size {
		x.logf("mapwrite extend to %#x", end)
		if err := x.f.Truncate(end); err != nil {
			return fmt.Errorf("extend for mapwrite: %w", err)
		}
		x.setSize(end)
	}
	pgoff := off &^ (pageSize - 1)
	x.logf("mapwrite %#x..%#x", off, off+n)
	m, err := unix.Mmap(int(x.f.Fd()), pgoff, int(off-pgoff+n), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap write %#x+%#x: %w", off, n, err)
	}
	data := x.newData(n)
	copy(m[off-pgoff:], data)
	if err := unix.Msync(m, unix.MS_SYNC); err != nil {
		unix.Munmap(m)
		return fmt.Errorf("msync: %w", err)
	}
	if err := unix.Munmap(m); err != nil {
		return fmt.Errorf("munmap: %w", err)
	}
	x.apply(off, data)
	return nil
}

// checkAll compares the file's size and whole content with the model.
func (x *fsx) checkAll(what string) error {
	x.logf("%s (size %#x)", what, len(x.model))
	fi, err := x.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != int64(len(x.model)) {
		return fmt.Errorf("%s: size %#x, model %#x", what, fi.Size(), len(x.model))
	}
	buf := make([]byte, len(x.model))
	if got, err := x.f.ReadAt(buf, 0); got != len(buf) {
		return fmt.Errorf("%s: read %d of %d bytes: %v", what, got, len(buf), err)
	}
	return x.compare(what, buf, 0)
}

func (x *fsx) compare(what string, got []byte, off int64) error {
	want := x.model[off : off+int64(len(got))]
	if bytes.Equal(got, want) {
		return nil
	}
	i := firstDiff(got, want)
	end := min(i+16, len(got))
	return fmt.Errorf("%s: data mismatch at %#x: got % x want % x", what, off+int64(i), got[i:end], want[i:end])
}

// dropCaches writes back and drops the guest's page, dentry and inode
// caches so the next reads come from the server. Needs root; silently does
// nothing otherwise.
func dropCaches() {
	unix.Sync()
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0)
}
