package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// ErrMissingDependency is wrapped by every error about a binary or plugin that
// is not installed; the error text names the Debian package that provides it.
var ErrMissingDependency = errors.New("missing dependency")

// Debian packages providing what the harness runs.
const (
	pkgGanesha    = "nfs-ganesha"
	pkgGaneshaVFS = "nfs-ganesha-vfs"
	pkgRPCBind    = "rpcbind"
	pkgLibNFS     = "libnfs-utils"
)

// sbinDirs are searched after $PATH: a test environment may lack the sbin
// directories where rpcbind lives.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"}

// lookBinary finds an executable by name and, when it is missing, returns
// an error naming the Debian package to install.
func lookBinary(name, pkg string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range sbinDirs {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", missing(name, pkg)
}

func missing(what, pkg string) error {
	return fmt.Errorf("harness: %s not found: install the Debian package %s (run scripts/deps.sh as root): %w",
		what, pkg, ErrMissingDependency)
}

// fsalVFSGlobs are where Debian's nfs-ganesha-vfs puts the VFS FSAL.
var fsalVFSGlobs = []string{
	"/usr/lib/*/ganesha/libfsalvfs.so",
	"/usr/lib/ganesha/libfsalvfs.so",
	"/usr/lib64/ganesha/libfsalvfs.so",
}

// checkFSALVFS reports whether the VFS FSAL plugin is installed; without it
// ganesha starts but cannot serve the export.
func checkFSALVFS() error {
	for _, g := range fsalVFSGlobs {
		if m, _ := filepath.Glob(g); len(m) > 0 {
			return nil
		}
	}
	return missing("ganesha VFS FSAL (libfsalvfs.so)", pkgGaneshaVFS)
}
