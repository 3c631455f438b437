package proxy

import "github.com/nfscacheproxy/nfscacheproxy/internal/xdr"

// nfsHandlers is indexed by NFSv3 procedure number.
var nfsHandlers = [...]func(*request, *xdr.Reader, *xdr.Writer) error{
	null, getattr, setattr, lookup, access, readlink, read, write, create,
	mkdir, symlink, mknod, remove, rmdir, rename, link, readdir, readdirplus,
	fsstat, fsinfo, pathconf, commit,
}

// mountHandlers is indexed by MOUNT v3 procedure number.
var mountHandlers = [...]func(*request, *xdr.Reader, *xdr.Writer) error{
	null, mnt, dump, umnt, umntall, export,
}
