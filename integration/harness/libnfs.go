package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"
)

// LibNFSTimeout bounds one RunLibNFS call when the context has no deadline.
// It is generous: a 16 MiB nfs-cat through a proxy built with the race
// detector, on a busy 2-core machine, takes tens of seconds.
const LibNFSTimeout = 3 * time.Minute

// LibNFSURL builds the libnfs URL of path (relative to export) on an NFSv3
// server with explicit ports, so no portmapper is consulted:
//
//	nfs://127.0.0.1/export/path?version=3&nfsport=P&mountport=M
//
// libnfs 4.0 (Debian 12) MNTs the directory part of the URL (ganesha allows
// mounting a subdirectory of an export, so "sub/file" works) and looks the
// last name up in it; it does not percent-decode, so names go in raw (a
// space is fine) and names containing '?', '&' or '#' cannot be expressed. Use [LibNFSURLAs] to pick the
// AUTH_SYS uid and gid (libnfs otherwise sends the caller's, root here).
func LibNFSURL(host string, nfsPort, mountPort int, export, p string) string {
	return libNFSURL(host, nfsPort, mountPort, export, p, "")
}

// LibNFSURLAs is LibNFSURL with libnfs's uid= and gid= URL arguments, which
// set the AUTH_SYS uid and gid of every call.
func LibNFSURLAs(host string, nfsPort, mountPort int, export, p string, uid, gid uint32) string {
	return libNFSURL(host, nfsPort, mountPort, export, p, fmt.Sprintf("&uid=%d&gid=%d", uid, gid))
}

func libNFSURL(host string, nfsPort, mountPort int, export, p, extra string) string {
	full := path.Join("/", export, p)
	if strings.HasSuffix(p, "/") && full != "/" {
		full += "/"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return fmt.Sprintf("nfs://%s%s?version=3&nfsport=%d&mountport=%d%s", host, full, nfsPort, mountPort, extra)
}

// URLAs is [Ganesha.URL] with an AUTH_SYS uid and gid.
func (g *Ganesha) URLAs(p string, uid, gid uint32) string {
	return LibNFSURLAs(g.Host, g.NFSPort, g.MountPort, g.Export, p, uid, gid)
}

// RunLibNFS runs one libnfs-utils tool ("nfs-cat", "nfs-ls", "nfs-cp", …)
// and returns its output. A non-zero exit is an error that includes stderr.
// The run is bounded by ctx, or by LibNFSTimeout when ctx has no deadline.
// Debian 12's libnfs-utils ships only nfs-cat, nfs-cp and nfs-ls (no nfs-stat).
//
// The tool writes straight into unlinked temporary files, not into pipes:
// with a pipe, exec copies the output in a goroutine that must drain it
// within WaitDelay of the exit, and on a busy machine (nfs-cat of 16 MiB
// under the race detector) that copy can lag by more than any short
// WaitDelay and the run fails with "WaitDelay expired". A file needs no
// copy, so the only bound left is ctx.
func RunLibNFS(ctx context.Context, tool string, args ...string) (stdout, stderr []byte, err error) {
	bin, err := lookBinary(tool, pkgLibNFS)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, LibNFSTimeout)
		defer cancel()
	}
	outf, err := unlinkedTemp()
	if err != nil {
		return nil, nil, err
	}
	defer outf.Close()
	errf, err := unlinkedTemp()
	if err != nil {
		return nil, nil, err
	}
	defer errf.Close()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = outf, errf
	runErr := cmd.Run()
	out, rerr := readFrom0(outf)
	if rerr != nil {
		return nil, nil, rerr
	}
	errb, rerr := readFrom0(errf)
	if rerr != nil {
		return nil, nil, rerr
	}
	if runErr != nil {
		if ctx.Err() != nil {
			runErr = fmt.Errorf("%w (%v)", ctx.Err(), runErr)
		}
		return out, errb, fmt.Errorf("harness: %s %s: %w: %s",
			tool, strings.Join(args, " "), runErr, strings.TrimSpace(string(errb)))
	}
	return out, errb, nil
}

// unlinkedTemp returns a new temporary file that is already removed, so it
// goes away with its last descriptor whatever happens.
func unlinkedTemp() (*os.File, error) {
	f, err := os.CreateTemp("", "harness-libnfs-")
	if err != nil {
		return nil, fmt.Errorf("harness: temporary file for libnfs output: %w", err)
	}
	os.Remove(f.Name())
	return f, nil
}

// readFrom0 reads f from its start.
func readFrom0(f *os.File) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("harness: read libnfs output: %w", err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("harness: read libnfs output: %w", err)
	}
	return b, nil
}
