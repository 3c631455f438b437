package integration

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/await"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
	"github.com/nfscacheproxy/nfscacheproxy/proxy"
)

// writeRetrying writes like a hard-mounted client: JUKEBOX means wait and
// send again, for up to await.Deadline.
func writeRetrying(t *testing.T, c *nfsClient, fh nfs3.FH, off uint64, data []byte) *nfs3.WriteRes {
	t.Helper()
	var res *nfs3.WriteRes
	var err error
	if !await.Poll(await.Deadline, func() bool {
		res, err = c.c.Write(c.ctx, &c.cred, &nfs3.WriteArgs{File: fh, Offset: off, Count: uint32(len(data)), Stable: nfs3.FileSync, Data: data})
		return err == nil && res.Status != nfs3.StatJukebox
	}) {
		t.Errorf("write at %d never succeeded in %v: %v %v", off, await.Deadline, err, res)
		return &nfs3.WriteRes{Status: nfs3.StatIO}
	}
	return res
}

// TestUpstreamRestartMidWorkload: ganesha is restarted while clients write
// and read through the proxy (hard mode). The proxy reconnects by itself,
// and every byte acknowledged as FILE_SYNC is on the upstream afterwards.
func TestUpstreamRestartMidWorkload(t *testing.T) {
	e := startEnvWith(t, envOptions{cacheDir: "temp", hard: true, callTO: 2 * time.Second})
	const writers, chunks, chunk = 4, 40, 64 << 10
	c := e.proxyClient(0, 0)
	fhs := make([]nfs3.FH, writers)
	for i := range fhs {
		fh, st := c.create(c.root(), fmt.Sprintf("w%d", i), 0o644)
		if st != nfs3.StatOK {
			t.Fatal(st)
		}
		fhs[i] = fh
	}
	readme := randomFile(t, filepath.Join(e.g.Dir, "readme"), 2<<20)
	rfh := c.mustLookup(c.root(), "readme")

	// The workload runs until the restart is over (and at least chunks
	// writes and 30 reads each), so the restart lands in its middle however
	// fast or slow the machine; the restart starts once every worker has
	// made progress.
	restarted := make(chan struct{})
	over := func() bool {
		select {
		case <-restarted:
			return true
		default:
			return false
		}
	}
	var progress atomic.Int64
	var wg sync.WaitGroup
	acked := make([][]byte, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			wc := e.proxyClient(0, 0)
			for k := 0; k < chunks || !over(); k++ {
				data := bytes.Repeat([]byte{byte('a' + i), byte(k)}, chunk/2)
				res := writeRetrying(t, wc, fhs[i], uint64(k*chunk), data)
				if res.Status != nfs3.StatOK || res.Committed != nfs3.FileSync || int(res.Count) != chunk {
					t.Errorf("writer %d chunk %d: %v committed %v count %d", i, k, res.Status, res.Committed, res.Count)
					return
				}
				acked[i] = append(acked[i], data...)
				if k == 0 {
					progress.Add(1)
				}
			}
		}(i)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rc := e.proxyClient(0, 0)
		for k := 0; k < 30 || !over(); k++ {
			res, err := rc.c.Read(rc.ctx, &rc.cred, &nfs3.ReadArgs{File: rfh, Offset: uint64(k%8) << 18, Count: 1 << 18})
			if err != nil {
				t.Errorf("reader: %v", err)
				return
			}
			if res.Status == nfs3.StatOK && !bytes.Equal(res.Data, readme[(k%8)<<18:(k%8+1)<<18]) {
				t.Errorf("reader got wrong bytes at %d", (k%8)<<18)
			}
			if k == 0 {
				progress.Add(1)
			}
		}
	}()
	await.Until(t, "every writer and the reader to make progress", func() bool { return progress.Load() == writers+1 })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	err := e.g.Restart(ctx)
	close(restarted)
	if err != nil {
		wg.Wait()
		t.Fatalf("restart ganesha: %v", err)
	}
	wg.Wait()
	for i := 0; i < writers; i++ {
		onDisk, err := os.ReadFile(filepath.Join(e.g.Dir, fmt.Sprintf("w%d", i)))
		if err != nil || !bytes.Equal(onDisk[:len(acked[i])], acked[i]) {
			t.Fatalf("file w%d: %d bytes on the upstream; acknowledged %d; equal %v (%v)", i, len(onDisk), len(acked[i]), err == nil && len(onDisk) >= len(acked[i]) && bytes.Equal(onDisk[:len(acked[i])], acked[i]), err)
		}
	}
	if got := c.readAll(rfh); !bytes.Equal(got, readme) {
		t.Fatal("after the restart the proxy serves bytes that differ from the upstream's")
	}
	st := e.up.Stats()
	if st.Reconnects == 0 {
		t.Fatalf("upstream stats %+v; want a reconnect", st)
	}
	t.Logf("upstream reconnects %d, retries %d", st.Reconnects, st.Retries)
}

// TestSoftModeFailsCleanly: with the upstream down, a soft volume answers
// NFS3ERR_IO after its timeout.
func TestSoftModeFailsCleanly(t *testing.T) {
	e := startEnvWith(t, envOptions{coherency: coherency.Options{Mode: coherency.ModeCTO},
		failure: proxy.Failure{Soft: true, SoftTimeout: time.Second}, callTO: 500 * time.Millisecond})
	c := e.proxyClient(0, 0)
	fh, _ := c.create(c.root(), "f", 0o644)
	e.g.Stop()
	if _, st := c.getattr(fh); st != nfs3.StatIO {
		t.Fatalf("GETATTR with the upstream down: %v; want NFS3ERR_IO", st)
	}
}

// TestServeStale: with serve-stale on, reads and lookups of cached objects
// keep working while the upstream is down, and changes fail cleanly.
func TestServeStale(t *testing.T) {
	const ttl = 200 * time.Millisecond
	e := startEnvWith(t, envOptions{cacheDir: "temp", coherency: coherency.Options{AcRegMin: ttl, AcRegMax: ttl, AcDirMin: ttl, AcDirMax: ttl},
		failure: proxy.Failure{Soft: true, SoftTimeout: time.Second, ServeStale: true}, callTO: 500 * time.Millisecond})
	data := randomFile(t, filepath.Join(e.g.Dir, "f"), 700_000)
	c := e.proxyClient(0, 0)
	fh := c.mustLookup(c.root(), "f")
	c.readAll(fh)
	e.g.Stop()
	time.Sleep(2 * ttl) // the TTL's expiry is the behaviour: every cached answer is now past it
	if got, st := c.lookup(c.root(), "f"); st != nfs3.StatOK || !bytes.Equal(got, fh) {
		t.Fatalf("LOOKUP while down: %v; want the cached answer", st)
	}
	if a, st := c.getattr(fh); st != nfs3.StatOK || a.Size != uint64(len(data)) {
		t.Fatalf("GETATTR while down: %v size %d", st, a.Size)
	}
	if got := c.readAll(fh); !bytes.Equal(got, data) {
		t.Fatal("READ while down: bytes differ")
	}
	if w := c.write(fh, 0, []byte("x"), nfs3.FileSync); w.Status == nfs3.StatOK {
		t.Fatal("WRITE while the upstream is down succeeded")
	}
	if _, st := c.lookup(c.root(), "never-seen"); st == nfs3.StatOK {
		t.Fatal("LOOKUP of an uncached name succeeded while down")
	}
	if n := e.srv.Stats().StaleServed; n == 0 {
		t.Fatal("StaleServed = 0; want answers counted")
	}
}
