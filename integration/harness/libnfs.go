package harness

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path"
	"strings"
	"time"
)

// LibNFSTimeout bounds one RunLibNFS call when the context has no deadline.
const LibNFSTimeout = 60 * time.Second

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
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		return out.Bytes(), errb.Bytes(), fmt.Errorf("harness: %s %s: %w: %s",
			tool, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), errb.Bytes(), nil
}
