package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/coherency"
	"github.com/nfscacheproxy/nfscacheproxy/internal/nfs3"
)

// Serve-stale, the one wrapper of the volume's failure policy.
//
// A handler that failed to get an answer from the upstream offers, through
// serveStale, a way to answer from the caches however old they are. The
// policy decides here, and only here, whether that answer may be used:
// the volume has Failure.ServeStale and the request's upstream call failed
// in transport (req.unreachable; an NFS error status from a live upstream
// is never papered over). The stale answers themselves, one per kind of
// cached data, are the *Stale functions below; a request answered with one
// is counted once (Stats.StaleServed) by finish.

// serveStale runs answer when the volume's failure policy serves stale and
// the upstream just failed to answer; it reports whether answer produced
// the reply's data.
func (req *request) serveStale(v *volume, answer func() bool) bool {
	if !v.Failure.ServeStale || !req.unreachable {
		return false
	}
	if !answer() {
		return false
	}
	req.servedStale = true
	return true
}

// attrStale returns fh's cached attributes of any age.
func (req *request) attrStale(v *volume, fh nfs3.FH, attr *nfs3.Fattr3) bool {
	a, _, ok := v.meta.Attr(fh)
	if ok {
		*attr = a
	}
	return ok
}

// accessStale answers ACCESS from the cached ACCESS result for this
// credential of any age, else from the cached mode bits.
func (req *request) accessStale(v *volume, a *nfs3.AccessArgs, res *nfs3.AccessRes) bool {
	attr, _, ok := v.meta.Attr(a.Object)
	if !ok {
		return false
	}
	granted, ok := v.meta.AccessStale(a.Object, req.cred.Key(), a.Access)
	if !ok {
		granted = accessFromMode(&attr, &req.cred, a.Access)
	}
	*res = nfs3.AccessRes{Status: nfs3.StatOK, Attr: nfs3.PostOpAttr{Set: true, Attr: attr}, Access: granted}
	return true
}

// mayAccessStale decides a permission check from a cached ACCESS result
// for this credential of any age.
func (req *request) mayAccessStale(v *volume, fh nfs3.FH, access uint32) bool {
	granted, ok := v.meta.AccessStale(fh, req.cred.Key(), access)
	return ok && granted&access == access
}

// lookupStale answers LOOKUP from the caches however old they are.
func (req *request) lookupStale(v *volume, a *nfs3.LookupArgs, res *nfs3.LookupRes) bool {
	e, ok := v.meta.LookupStale(a.What.Dir, a.What.Name)
	if !ok {
		return false
	}
	dattr, _, ok := v.meta.Attr(a.What.Dir)
	if !ok {
		return false
	}
	if granted, ok := v.meta.AccessStale(a.What.Dir, req.cred.Key(), nfs3.AccessLookup); ok {
		if granted&nfs3.AccessLookup == 0 {
			return false
		}
	} else if !coherency.Permits(&dattr, &req.cred, coherency.PermExec) {
		return false // the upstream is down: nobody to ask for root
	}
	dir := nfs3.PostOpAttr{Set: true, Attr: dattr}
	if e.Negative {
		*res = nfs3.LookupRes{Status: nfs3.StatNoEnt, DirAttr: dir}
		return true
	}
	oattr, _, ok := v.meta.Attr(e.FH)
	if !ok {
		return false
	}
	*res = nfs3.LookupRes{Status: nfs3.StatOK, Object: e.FH, ObjAttr: nfs3.PostOpAttr{Set: true, Attr: oattr}, DirAttr: dir}
	return true
}
