package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// fsstress is an fsstress-style workload in two phases.
//
// Phase 1: each worker owns a subtree p<i> and runs a seeded random mix of
// create, write, mkdir, rmdir, unlink, rename (also over existing entries),
// link, symlink, chmod, truncate, utimes and read in it, concurrently with
// the others, keeping a model of what its subtree must hold. Every result
// (including the errors POSIX requires, such as ENOTEMPTY) is checked as it
// happens, and afterwards the whole subtree is compared with the model:
// names, types, sizes, contents, permissions, link counts and shared
// inodes, directory link counts, symlink targets, explicitly set mtimes —
// once from the warm cache and once after dropping it.
//
// Phase 2: all workers hammer one small shared namespace with the same
// operations and tolerate the races' errors (ENOENT, EEXIST, …); the tree
// left behind must be self-consistent (every listed name stats, hard link
// counts equal the names found, directory link counts equal 2 + subdirs)
// and identical before and after a cache drop.
func runFsstress(args []string) error {
	fs := flag.NewFlagSet("fsstress", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "random seed")
	workers := fs.Int("workers", 4, "concurrent workers")
	ops := fs.Int("ops", 500, "operations per worker and phase")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 || *workers < 1 {
		return usageError{"usage: fsstress [-seed N] [-workers N] [-ops N] DIR"}
	}
	dir := fs.Arg(0)
	start := time.Now()
	ws := make([]*worker, *workers)
	for i := range ws {
		root := filepath.Join(dir, fmt.Sprintf("p%d", i))
		if err := os.Mkdir(root, 0o755); err != nil {
			return err
		}
		ws[i] = newWorker(i, root, *seed)
	}
	if err := runWorkers(ws, func(w *worker) error { return w.phase1(*ops) }); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fsstress: phase 1 (%d workers x %d ops) took %v\n", *workers, *ops, time.Since(start).Round(time.Millisecond))
	if err := runWorkers(ws, func(w *worker) error { return w.checkModel() }); err != nil {
		return fmt.Errorf("model check (warm cache): %w", err)
	}
	dropCaches()
	if err := runWorkers(ws, func(w *worker) error { return w.checkModel() }); err != nil {
		return fmt.Errorf("model check (after cache drop): %w", err)
	}
	fmt.Println("fsstress: private trees match their models")

	shared := filepath.Join(dir, "shared")
	if err := os.Mkdir(shared, 0o755); err != nil {
		return err
	}
	start = time.Now()
	if err := runWorkers(ws, func(w *worker) error { return w.phase2(shared, *ops) }); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "fsstress: phase 2 took %v\n", time.Since(start).Round(time.Millisecond))
	before, err := checkConsistent(shared)
	if err != nil {
		return fmt.Errorf("shared tree (warm cache): %w", err)
	}
	dropCaches()
	after, err := checkConsistent(shared)
	if err != nil {
		return fmt.Errorf("shared tree (after cache drop): %w", err)
	}
	if before != after {
		return fmt.Errorf("shared tree differs after a cache drop:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	fmt.Println("fsstress: shared tree is consistent")
	return nil
}

func runWorkers(ws []*worker, f func(*worker) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ws))
	for i, w := range ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = f(w)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "worker %d recent operations:\n%s\n", i, strings.Join(ws[i].log, "\n"))
			return fmt.Errorf("worker %d: %w", i, err)
		}
	}
	return nil
}

// node is a modelled inode; every name of a hard-linked file points to the
// same node.
type node struct {
	kind   byte // 'f' file, 'd' directory, 'l' symlink
	data   []byte
	mode   os.FileMode
	target string
	mtime  int64 // seconds set by utimes; 0 when unknown
	names  int
}

type worker struct {
	id    int
	root  string
	rng   *rand.Rand
	paths map[string]*node // relative to root; "" is root itself
	seq   int
	op    int
	log   []string
}

func newWorker(id int, root string, seed uint64) *worker {
	return &worker{id: id, root: root, rng: rand.New(rand.NewPCG(seed, uint64(id)+1)),
		paths: map[string]*node{"": {kind: 'd', mode: 0o755, names: 1}}}
}

func (w *worker) logf(format string, a ...any) {
	w.log = append(w.log, fmt.Sprintf("%5d ", w.op)+fmt.Sprintf(format, a...))
	if len(w.log) > 30 {
		w.log = w.log[len(w.log)-30:]
	}
}

func (w *worker) abs(rel string) string { return filepath.Join(w.root, rel) }

// pick returns a random modelled path whose node satisfies ok, in a stable
// order so the run depends only on the seed.
func (w *worker) pick(ok func(string, *node) bool) (string, bool) {
	var c []string
	for p, n := range w.paths {
		if ok(p, n) {
			c = append(c, p)
		}
	}
	if len(c) == 0 {
		return "", false
	}
	sort.Strings(c)
	return c[w.rng.IntN(len(c))], true
}

func (w *worker) newName(kind byte) string {
	dir, _ := w.pick(func(_ string, n *node) bool { return n.kind == 'd' })
	w.seq++
	return filepath.Join(dir, fmt.Sprintf("%c%d", kind, w.seq))
}

func (w *worker) children(dir string) []string {
	var c []string
	prefix := dir + "/"
	for p := range w.paths {
		if p == "" {
			continue
		}
		if dir == "" && !strings.Contains(p, "/") || dir != "" && strings.HasPrefix(p, prefix) && !strings.Contains(p[len(prefix):], "/") {
			c = append(c, p)
		}
	}
	sort.Strings(c)
	return c
}

func (w *worker) randData(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(w.rng.Uint32())
	}
	return b
}

func isFile(_ string, n *node) bool    { return n.kind == 'f' }
func isNonDir(_ string, n *node) bool  { return n.kind != 'd' }
func isSubdir(p string, n *node) bool  { return n.kind == 'd' && p != "" }
func notRoot(p string, _ *node) bool   { return p != "" }
func isAnyNode(_ string, _ *node) bool { return true }

func (w *worker) phase1(ops int) error {
	for w.op = 1; w.op <= ops; w.op++ {
		if err := w.step1(); err != nil {
			return fmt.Errorf("op %d: %w", w.op, err)
		}
	}
	return nil
}

func (w *worker) step1() error {
	switch r := w.rng.IntN(100); {
	case r < 18:
		p := w.newName('f')
		data := w.randData(w.rng.IntN(32 << 10))
		w.logf("create %s (%d bytes)", p, len(data))
		if err := os.WriteFile(w.abs(p), data, 0o644); err != nil {
			return err
		}
		w.paths[p] = &node{kind: 'f', data: data, mode: 0o644, names: 1}
	case r < 28:
		p, ok := w.pick(isFile)
		if !ok {
			return nil
		}
		n := w.paths[p]
		off := w.rng.IntN(len(n.data) + 4096)
		data := w.randData(w.rng.IntN(16<<10) + 1)
		w.logf("write %s at %d len %d", p, off, len(data))
		f, err := os.OpenFile(w.abs(p), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteAt(data, int64(off))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		if end := off + len(data); end > len(n.data) {
			n.data = append(n.data, make([]byte, end-len(n.data))...)
		}
		copy(n.data[off:], data)
		n.mtime = 0
	case r < 36:
		p := w.newName('d')
		w.logf("mkdir %s", p)
		if err := os.Mkdir(w.abs(p), 0o755); err != nil {
			return err
		}
		w.paths[p] = &node{kind: 'd', mode: 0o755, names: 1}
	case r < 42:
		p, ok := w.pick(isSubdir)
		if !ok {
			return nil
		}
		empty := len(w.children(p)) == 0
		w.logf("rmdir %s (empty %v)", p, empty)
		err := syscall.Rmdir(w.abs(p))
		if !empty {
			if !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
				return fmt.Errorf("rmdir of non-empty %s: got %v; want ENOTEMPTY", p, err)
			}
			return nil
		}
		if err != nil {
			return err
		}
		delete(w.paths, p)
	case r < 52:
		p, ok := w.pick(isNonDir)
		if !ok {
			return nil
		}
		w.logf("unlink %s", p)
		if err := syscall.Unlink(w.abs(p)); err != nil {
			return err
		}
		w.paths[p].names--
		delete(w.paths, p)
	case r < 66:
		return w.rename()
	case r < 72:
		p, ok := w.pick(isFile)
		if !ok {
			return nil
		}
		q := w.newName('h')
		w.logf("link %s %s", p, q)
		if err := os.Link(w.abs(p), w.abs(q)); err != nil {
			return err
		}
		w.paths[q] = w.paths[p]
		w.paths[q].names++
	case r < 78:
		q := w.newName('s')
		target := fmt.Sprintf("target/%d/%x", w.id, w.rng.Uint32())
		w.logf("symlink %s -> %s", q, target)
		if err := os.Symlink(target, w.abs(q)); err != nil {
			return err
		}
		w.paths[q] = &node{kind: 'l', target: target, mode: 0o777, names: 1}
	case r < 84:
		p, ok := w.pick(func(p string, n *node) bool { return n.kind != 'l' && p != "" })
		if !ok {
			return nil
		}
		n := w.paths[p]
		mode := os.FileMode(0o600 | w.rng.IntN(0o200))
		if n.kind == 'd' {
			mode |= 0o700
		}
		w.logf("chmod %s %o", p, mode)
		if err := os.Chmod(w.abs(p), mode); err != nil {
			return err
		}
		n.mode = mode
	case r < 90:
		p, ok := w.pick(isFile)
		if !ok {
			return nil
		}
		n := w.paths[p]
		size := w.rng.IntN(len(n.data) + 16<<10)
		w.logf("truncate %s %d", p, size)
		if err := os.Truncate(w.abs(p), int64(size)); err != nil {
			return err
		}
		if size <= len(n.data) {
			n.data = n.data[:size]
		} else {
			n.data = append(n.data, make([]byte, size-len(n.data))...)
		}
		n.mtime = 0
	case r < 94:
		p, ok := w.pick(isFile)
		if !ok {
			return nil
		}
		n := w.paths[p]
		t := time.Unix(1_000_000_000+int64(w.rng.IntN(1_000_000)), 0)
		w.logf("utimes %s %d", p, t.Unix())
		if err := os.Chtimes(w.abs(p), t, t); err != nil {
			return err
		}
		n.mtime = t.Unix()
	default:
		p, ok := w.pick(isFile)
		if !ok {
			return nil
		}
		w.logf("read %s", p)
		b, err := os.ReadFile(w.abs(p))
		if err != nil {
			return err
		}
		if !bytes.Equal(b, w.paths[p].data) {
			return fmt.Errorf("read %s: %d bytes differ from the model's %d (first difference at %d)", p, len(b), len(w.paths[p].data), firstDiff(b, w.paths[p].data))
		}
	}
	return nil
}

func (w *worker) rename() error {
	src, ok := w.pick(notRoot)
	if !ok {
		return nil
	}
	sn := w.paths[src]
	var dst string
	if w.rng.IntN(2) == 0 {
		// Over an existing entry of a compatible kind.
		d, ok := w.pick(func(p string, n *node) bool {
			if p == "" || p == src || n == sn || strings.HasPrefix(p+"/", src+"/") || strings.HasPrefix(src+"/", p+"/") {
				return false
			}
			if sn.kind == 'd' {
				return n.kind == 'd' && len(w.children(p)) == 0
			}
			return n.kind != 'd'
		})
		if !ok {
			return nil
		}
		dst = d
	} else {
		dst = w.newName(sn.kind)
		if sn.kind == 'd' && strings.HasPrefix(dst, src+"/") {
			return nil // into itself: EINVAL, not modelled
		}
	}
	w.logf("rename %s %s", src, dst)
	if err := syscall.Rename(w.abs(src), w.abs(dst)); err != nil {
		return err
	}
	if old, ok := w.paths[dst]; ok {
		old.names--
	}
	moved := map[string]*node{}
	for p, n := range w.paths {
		if p == src || strings.HasPrefix(p, src+"/") {
			moved[dst+p[len(src):]] = n
			delete(w.paths, p)
		}
	}
	for p, n := range moved {
		w.paths[p] = n
	}
	return nil
}

// checkModel compares the worker's real subtree with its model.
func (w *worker) checkModel() error {
	seen := map[string]bool{}
	inos := map[*node]uint64{}
	err := filepath.Walk(w.root, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(w.root, path)
		if rel == "." {
			rel = ""
		}
		seen[rel] = true
		n, ok := w.paths[rel]
		if !ok {
			return fmt.Errorf("%s exists but the model does not have it", rel)
		}
		st := fi.Sys().(*syscall.Stat_t)
		switch n.kind {
		case 'f':
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("%s: mode %v, want a regular file", rel, fi.Mode())
			}
			if fi.Size() != int64(len(n.data)) {
				return fmt.Errorf("%s: size %d, want %d", rel, fi.Size(), len(n.data))
			}
			if int(st.Nlink) != n.names {
				return fmt.Errorf("%s: nlink %d, want %d", rel, st.Nlink, n.names)
			}
			if ino, ok := inos[n]; ok && ino != st.Ino {
				return fmt.Errorf("%s: inode %d, but another name of the same file has %d", rel, st.Ino, ino)
			}
			inos[n] = st.Ino
			if n.mtime != 0 && fi.ModTime().Unix() != n.mtime {
				return fmt.Errorf("%s: mtime %d, want %d (set by utimes)", rel, fi.ModTime().Unix(), n.mtime)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Equal(b, n.data) {
				return fmt.Errorf("%s: content differs from the model at byte %d", rel, firstDiff(b, n.data))
			}
		case 'd':
			if !fi.IsDir() {
				return fmt.Errorf("%s: mode %v, want a directory", rel, fi.Mode())
			}
			subdirs := 0
			for _, c := range w.children(rel) {
				if w.paths[c].kind == 'd' {
					subdirs++
				}
			}
			if int(st.Nlink) != 2+subdirs {
				return fmt.Errorf("%s: nlink %d, want 2+%d subdirectories", rel, st.Nlink, subdirs)
			}
		case 'l':
			if fi.Mode()&os.ModeSymlink == 0 {
				return fmt.Errorf("%s: mode %v, want a symlink", rel, fi.Mode())
			}
			t, err := os.Readlink(path)
			if err != nil {
				return err
			}
			if t != n.target {
				return fmt.Errorf("%s: symlink to %q, want %q", rel, t, n.target)
			}
		}
		if n.kind != 'l' && fi.Mode().Perm() != n.mode.Perm() {
			return fmt.Errorf("%s: permissions %o, want %o", rel, fi.Mode().Perm(), n.mode.Perm())
		}
		return nil
	})
	if err != nil {
		return err
	}
	for p := range w.paths {
		if !seen[p] {
			return fmt.Errorf("%s is in the model but not in the directory tree", p)
		}
	}
	return nil
}

// phase2 runs racy operations on a small shared namespace.
func (w *worker) phase2(shared string, ops int) error {
	name := func() string {
		if w.rng.IntN(3) == 0 {
			return filepath.Join(shared, fmt.Sprintf("d%d", w.rng.IntN(4)), fmt.Sprintf("s%d", w.rng.IntN(8)))
		}
		return filepath.Join(shared, fmt.Sprintf("s%d", w.rng.IntN(12)))
	}
	dirName := func() string { return filepath.Join(shared, fmt.Sprintf("d%d", w.rng.IntN(4))) }
	tolerated := func(err error) bool {
		for _, e := range []error{syscall.ENOENT, syscall.EEXIST, syscall.ENOTEMPTY, syscall.ENOTDIR,
			syscall.EISDIR, syscall.EINVAL, syscall.EBUSY, syscall.ESTALE} {
			if errors.Is(err, e) {
				return true
			}
		}
		return false
	}
	for w.op = 1; w.op <= ops; w.op++ {
		var err error
		switch r := w.rng.IntN(100); {
		case r < 20:
			p := name()
			w.logf("shared create %s", p)
			err = os.WriteFile(p, w.randData(w.rng.IntN(4096)), 0o644)
		case r < 30:
			p := dirName()
			w.logf("shared mkdir %s", p)
			err = os.Mkdir(p, 0o755)
		case r < 36:
			p := dirName()
			w.logf("shared rmdir %s", p)
			err = syscall.Rmdir(p)
		case r < 52:
			p := name()
			w.logf("shared unlink %s", p)
			err = syscall.Unlink(p)
		case r < 72:
			a, b := name(), name()
			w.logf("shared rename %s %s", a, b)
			err = syscall.Rename(a, b)
		case r < 82:
			a, b := name(), name()
			w.logf("shared link %s %s", a, b)
			err = os.Link(a, b)
		case r < 90:
			p := name()
			w.logf("shared symlink %s", p)
			err = os.Symlink("x", p)
		default:
			p := name()
			w.logf("shared chmod %s", p)
			err = os.Chmod(p, os.FileMode(0o600|w.rng.IntN(0o100)))
		}
		if err != nil && !tolerated(err) {
			return fmt.Errorf("shared op %d: %w", w.op, err)
		}
	}
	return nil
}

// checkConsistent walks dir and checks that it is self-consistent; it
// returns a listing of it.
func checkConsistent(dir string) (string, error) {
	var lines []string
	names := map[uint64]int{}
	nlinks := map[uint64]uint64{}
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(dir, path)
		lines = append(lines, fmt.Sprintf("%s %v %d %d", rel, fi.Mode(), fi.Size(), st.Nlink))
		switch {
		case fi.IsDir():
			ents, err := os.ReadDir(path)
			if err != nil {
				return err
			}
			subdirs := 0
			for _, e := range ents {
				if e.IsDir() {
					subdirs++
				}
			}
			if int(st.Nlink) != 2+subdirs {
				return fmt.Errorf("%s: nlink %d with %d subdirectories", rel, st.Nlink, subdirs)
			}
		case fi.Mode().IsRegular():
			names[st.Ino]++
			nlinks[st.Ino] = st.Nlink
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	for ino, n := range names {
		if uint64(n) != nlinks[ino] {
			return "", fmt.Errorf("inode %d: %d names found, nlink %d", ino, n, nlinks[ino])
		}
	}
	return strings.Join(lines, "\n"), nil
}
