package integration

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nfscacheproxy/nfscacheproxy/integration/harness"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// TestSubdirectoryMount: MNT of a directory below a volume returns that
// directory's handle, as knfsd and nfs-ganesha do, so one share can be
// mounted a directory per team or job; libnfs URLs naming a file below
// such a directory work; ".." from it goes up within the volume and ".."
// at the volume's root stays there; what is not a directory below the
// volume is refused with the MOUNT status for it.
func TestSubdirectoryMount(t *testing.T) {
	e := startEnv(t)
	if err := os.MkdirAll(filepath.Join(e.g.Dir, "team", "job1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.g.Dir, "team", "job1", "f"), []byte("hello from job1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.g.Dir, "plain"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := dialRPC(t, e.addr)
	var mnt nfs3.MntRes
	for i, tt := range []struct {
		path string
		want nfs3.MountStat
	}{
		{"/export/team/job1", nfs3.MountOK},
		{"/export/team/job1/", nfs3.MountOK},
		{"/export//team", nfs3.MountOK},
		{"/export/team/nope", nfs3.MountErrNoEnt},
		{"/export/plain", nfs3.MountErrNotDir},
		{"/export/team/../..", nfs3.MountErrAcces},
		{"/exportx/team", nfs3.MountErrNoEnt},
	} {
		if err := c.call(uint32(10+i), nfs3.MountProgram, 3, nfs3.MountProcMnt, &nfs3.MntArgs{Path: tt.path}, &mnt); err != nil || mnt.Status != tt.want {
			t.Fatalf("MNT %s: %v %v; want %v", tt.path, err, mnt.Status, tt.want)
		}
	}

	p := e.proxyClient(0, 0)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	job, err := harness.MountRoot(ctx, e.addr, "/export/team/job1")
	if err != nil {
		t.Fatal(err)
	}
	team := p.mustLookup(p.root(), "team")
	if want := p.mustLookup(team, "job1"); !bytes.Equal(job, want) {
		t.Fatalf("MNT /export/team/job1 handle %x; want %x, the one LOOKUP gives", job, want)
	}
	if got := string(p.readAll(p.mustLookup(job, "f"))); got != "hello from job1\n" {
		t.Fatalf("read f below the mounted directory: %q", got)
	}
	if up := p.mustLookup(job, ".."); !bytes.Equal(up, team) {
		t.Fatalf("LOOKUP .. from the mounted directory: %x; want team %x", up, team)
	}
	if up := p.mustLookup(p.root(), ".."); !bytes.Equal(up, p.root()) {
		t.Fatalf("LOOKUP .. at the volume root: %x; want the root %x", up, p.root())
	}

	// libnfs mounts the directory part of a URL.
	out, _, err := harness.RunLibNFS(ctx, "nfs-cat", e.url("team/job1/f"))
	if err != nil || string(out) != "hello from job1\n" {
		t.Fatalf("nfs-cat team/job1/f through the proxy: %q, %v", out, err)
	}
	out, _, err = harness.RunLibNFS(ctx, "nfs-ls", e.url("team/job1/"))
	if err != nil || !strings.Contains(string(out), " f") && !strings.HasSuffix(strings.TrimSpace(string(out)), "f") {
		t.Fatalf("nfs-ls team/job1/ through the proxy: %q, %v; want it to list f", out, err)
	}
	var dump nfs3.DumpRes
	if err := c.call(40, nfs3.MountProgram, 3, nfs3.MountProcDump, noArgs{}, &dump); err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, m := range dump.Mounts {
		dirs = append(dirs, m.Dir)
	}
	if !strings.Contains(strings.Join(dirs, " "), "/export/team/job1") {
		t.Fatalf("DUMP lists %q; want /export/team/job1 among them", dirs)
	}
}
