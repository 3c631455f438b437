package main

import (
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// runSparse writes 1 MiB at -offset (default 4 GiB) and 4 KiB at twice
// that, then checks the size, the allocated blocks, that the holes read as
// zeros (through read(2) and after a cache drop) and that the data reads
// back.
func runSparse(args []string) error {
	fs := flag.NewFlagSet("sparse", flag.ContinueOnError)
	offS := fs.String("offset", "4G", "offset of the first write")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return usageError{"usage: sparse [-offset N] FILE"}
	}
	off, err := parseSize(*offS)
	if err != nil {
		return err
	}
	path := fs.Arg(0)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	const seed = 4242
	if err := writePattern(f, seed, off, 1<<20); err != nil {
		return fmt.Errorf("write at %d: %w", off, err)
	}
	if err := writePattern(f, seed, 2*off, 4096); err != nil {
		return fmt.Errorf("write at %d: %w", 2*off, err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	want := 2*off + 4096
	for pass, what := range []string{"warm cache", "after cache drop"} {
		if pass == 1 {
			f.Close()
			dropCaches()
			if f, err = os.Open(path); err != nil {
				return err
			}
		}
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() != want {
			return fmt.Errorf("%s: size %d, want %d", what, fi.Size(), want)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if alloc := st.Blocks * 512; alloc > 64<<20 {
			return fmt.Errorf("%s: %d bytes allocated for 1 MiB + 4 KiB of data: not sparse", what, alloc)
		}
		zero := make([]byte, 256<<10)
		buf := make([]byte, len(zero))
		for _, h := range []int64{0, 1 << 20, off / 2, off - int64(len(zero)), off + 1<<20, 2*off - int64(len(zero))} {
			if n, err := f.ReadAt(buf, h); n != len(buf) {
				return fmt.Errorf("%s: read hole at %d: %d bytes: %v", what, h, n, err)
			}
			if i := firstDiff(buf, zero); i >= 0 {
				return fmt.Errorf("%s: hole at %d: byte %d is %#x, want 0", what, h, h+int64(i), buf[i])
			}
		}
		if err := verifyPattern(f, seed, off, 1<<20); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if err := verifyPattern(f, seed, 2*off, 4096); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		// A read across EOF returns only what is there.
		n, _ := f.ReadAt(buf, want-100)
		if n != 100 {
			return fmt.Errorf("%s: read across EOF returned %d bytes, want 100", what, n)
		}
	}
	fmt.Println("sparse: size, holes and data verified")
	return nil
}

// alignedBuf returns a page-aligned buffer of n bytes (O_DIRECT needs one
// on some filesystems; NFS does not, but the client must still accept it).
func alignedBuf(n int) ([]byte, error) {
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
}

// runODirect writes a file with O_DIRECT in aligned and unaligned pieces,
// reads it back with O_DIRECT and with buffered I/O, and checks that
// O_DIRECT sees data written through the page cache.
func runODirect(args []string) error {
	if len(args) != 1 {
		return usageError{"usage: odirect FILE"}
	}
	path := args[0]
	const seed = 777
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|syscall.O_DIRECT, 0o644)
	if err != nil {
		return fmt.Errorf("open O_DIRECT: %w", err)
	}
	defer f.Close()
	buf, err := alignedBuf(4 << 20)
	if err != nil {
		return err
	}
	// Pieces: (offset, length) — 1 MiB aligned, 4 KiB aligned, odd sizes
	// and offsets, and one beyond a gap.
	pieces := [][2]int64{{0, 1 << 20}, {1 << 20, 4096}, {1<<20 + 4096, 3 << 20}, {4<<20 + 4096, 1000}, {4<<20 + 5096, 3333}, {6 << 20, 65536}}
	for _, p := range pieces {
		b := buf[:p[1]]
		fillPattern(b, seed, p[0])
		if n, err := f.WriteAt(b, p[0]); err != nil || int64(n) != p[1] {
			return fmt.Errorf("O_DIRECT write %d+%d: %d: %v", p[0], p[1], n, err)
		}
	}
	size := int64(6<<20 + 65536)
	check := func(what string, r io.ReaderAt) error {
		for _, p := range pieces {
			b := buf[:p[1]]
			if n, err := r.ReadAt(b, p[0]); int64(n) != p[1] {
				return fmt.Errorf("%s: read %d+%d: %d: %v", what, p[0], p[1], n, err)
			}
			want := make([]byte, p[1])
			fillPattern(want, seed, p[0])
			if i := firstDiff(b, want); i >= 0 {
				return fmt.Errorf("%s: mismatch at %d", what, p[0]+int64(i))
			}
		}
		// The gap between the pieces reads as zeros.
		gap := buf[:6<<20-(4<<20+5096+3333)]
		if n, err := r.ReadAt(gap, 4<<20+5096+3333); n != len(gap) {
			return fmt.Errorf("%s: read gap: %d: %v", what, n, err)
		}
		if !bytes.Equal(gap, make([]byte, len(gap))) {
			return fmt.Errorf("%s: gap is not zeros", what)
		}
		return nil
	}
	if err := check("O_DIRECT read", f); err != nil {
		return err
	}
	bf, err := os.Open(path)
	if err != nil {
		return err
	}
	defer bf.Close()
	if fi, _ := bf.Stat(); fi.Size() != size {
		return fmt.Errorf("size %d, want %d", fi.Size(), size)
	}
	if err := check("buffered read", bf); err != nil {
		return err
	}
	// Buffered write, then O_DIRECT read: the client must flush first.
	wf, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	b := make([]byte, 8192)
	fillPattern(b, seed+1, 1<<20)
	if _, err := wf.WriteAt(b, 1<<20); err != nil {
		return err
	}
	got := buf[:8192]
	if n, err := f.ReadAt(got, 1<<20); n != len(got) {
		return fmt.Errorf("O_DIRECT read after buffered write: %d: %v", n, err)
	}
	wf.Close()
	if i := firstDiff(got, b); i >= 0 {
		return fmt.Errorf("O_DIRECT read after buffered write: stale at %d", (1<<20)+i)
	}
	fmt.Println("odirect: direct and buffered views agree")
	return nil
}

// runMkfiles creates N empty files named f0000000… in DIR.
func runMkfiles(args []string) error {
	if len(args) != 2 {
		return usageError{"usage: mkfiles DIR N"}
	}
	n, err := strconv.Atoi(args[1])
	if err != nil || n < 0 {
		return usageError{"bad N"}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		fd, err := unix.Open(filepath.Join(args[0], fmt.Sprintf("f%07d", i)), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("create %d: %w", i, err)
		}
		unix.Close(fd)
	}
	fmt.Fprintf(os.Stderr, "mkfiles: %d files in %v\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}

// runTree prints one line per entry under DIR in a stable order: path,
// type and permissions, size, link count, uid, gid, and a content digest
// (files) or target (symlinks). Times and inode numbers are left out.
func runTree(args []string) error {
	if len(args) != 1 {
		return usageError{"usage: tree DIR"}
	}
	root := args[0]
	return filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		st := fi.Sys().(*syscall.Stat_t)
		extra := ""
		switch {
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			extra = fmt.Sprintf("%x", sha256.Sum256(b))[:16]
		case fi.Mode()&os.ModeSymlink != 0:
			t, err := os.Readlink(path)
			if err != nil {
				return err
			}
			extra = "-> " + t
		}
		size := fi.Size()
		if fi.IsDir() {
			size = 0 // directory sizes are the server's business
		}
		fmt.Printf("%s %v %d %d %d:%d %s\n", rel, fi.Mode(), size, st.Nlink, st.Uid, st.Gid, extra)
		return nil
	})
}

// runCtl asks the host test to do something (POST URL/ACTION) and waits for
// its answer; used for server restarts.
func runCtl(args []string) error {
	if len(args) != 2 {
		return usageError{"usage: ctl URL ACTION"}
	}
	c := &http.Client{Timeout: 3 * time.Minute}
	resp, err := c.Post(strings.TrimSuffix(args[0], "/")+"/"+args[1], "text/plain", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", args[1], resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprintf(os.Stderr, "ctl %s: %s\n", args[1], strings.TrimSpace(string(body)))
	return nil
}
