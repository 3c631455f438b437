package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// fillPattern fills b with the bytes that a file written by seed holds at
// offset off..off+len(b): 8-byte words of sha256(seed, word index), so any
// misplaced, stale or zeroed range is detected and its offset is known.
func fillPattern(b []byte, seed uint64, off int64) {
	var key [16]byte
	binary.LittleEndian.PutUint64(key[:8], seed)
	var block [32]byte
	blockIdx := int64(-1)
	for i := range b {
		pos := off + int64(i)
		bi := pos / 32
		if bi != blockIdx {
			binary.LittleEndian.PutUint64(key[8:], uint64(bi))
			block = sha256.Sum256(key[:])
			blockIdx = bi
		}
		b[i] = block[pos%32]
	}
}

// firstDiff returns the index of the first byte where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return n
	}
	return -1
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, usageError{fmt.Sprintf("bad size %q", s)}
	}
	return n * mult, nil
}

// runPattern: pattern write|verify FILE SEED OFFSET LEN.
func runPattern(args []string) error {
	if len(args) != 5 || (args[0] != "write" && args[0] != "verify") {
		return usageError{"usage: pattern write|verify FILE SEED OFFSET LEN"}
	}
	seed, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil {
		return usageError{"bad seed"}
	}
	off, err := parseSize(args[3])
	if err != nil {
		return err
	}
	n, err := parseSize(args[4])
	if err != nil {
		return err
	}
	if args[0] == "write" {
		f, err := os.OpenFile(args[1], os.O_WRONLY|os.O_CREATE, 0o644)
		if err != nil {
			return err
		}
		if err := writePattern(f, seed, off, n); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	f, err := os.Open(args[1])
	if err != nil {
		return err
	}
	defer f.Close()
	return verifyPattern(f, seed, off, n)
}

func writePattern(f *os.File, seed uint64, off, n int64) error {
	buf := make([]byte, 1<<20)
	for done := int64(0); done < n; {
		c := min(int64(len(buf)), n-done)
		fillPattern(buf[:c], seed, off+done)
		if _, err := f.WriteAt(buf[:c], off+done); err != nil {
			return err
		}
		done += c
	}
	return nil
}

func verifyPattern(f io.ReaderAt, seed uint64, off, n int64) error {
	buf := make([]byte, 1<<20)
	want := make([]byte, 1<<20)
	for done := int64(0); done < n; {
		c := min(int64(len(buf)), n-done)
		got, err := f.ReadAt(buf[:c], off+done)
		if err != nil && !(err == io.EOF && int64(got) == c) {
			return fmt.Errorf("read at %d: got %d bytes: %v", off+done, got, err)
		}
		fillPattern(want[:c], seed, off+done)
		if i := firstDiff(buf[:c], want[:c]); i >= 0 {
			return fmt.Errorf("pattern mismatch at offset %d: got %#02x want %#02x", off+done+int64(i), buf[i], want[i])
		}
		done += c
	}
	return nil
}

// runWaitFor: waitfor FILE TEXT TIMEOUT — reopen FILE (close-to-open) every
// 200 ms until its whole content is TEXT; prints the seconds it took on
// stderr. Exit 1 on timeout.
func runWaitFor(args []string) error {
	fs := flag.NewFlagSet("waitfor", flag.ContinueOnError)
	if err := fs.Parse(args); err != nil || fs.NArg() != 3 {
		return usageError{"usage: waitfor FILE TEXT TIMEOUT"}
	}
	d, err := time.ParseDuration(fs.Arg(2))
	if err != nil {
		return usageError{"bad timeout"}
	}
	start := time.Now()
	var last []byte
	for {
		b, err := os.ReadFile(fs.Arg(0))
		if err == nil && bytes.Equal(b, []byte(fs.Arg(1))) {
			fmt.Fprintf(os.Stderr, "waitfor: content seen after %.1fs\n", time.Since(start).Seconds())
			return nil
		}
		last = b
		if time.Since(start) > d {
			return fmt.Errorf("after %v: content still %q", d, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
