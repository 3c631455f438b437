package proxy

import (
	"github.com/nfscacheproxy/nfscacheproxy/internal/version"

	"github.com/nfscacheproxy/nfscacheproxy/coherency"
)

// afterChange applies coherency's rule for a state-changing procedure the
// proxy forwarded (Cache.AfterChange, the one table of what each procedure
// refreshes and invalidates) and carries out its effect on the data cache.
// data are the bytes a WRITE wrote at off (nil otherwise).
func (v *volume) afterChange(ch *coherency.Change, data []byte, off int64) {
	eff := v.meta.AfterChange(ch)
	if v.Data == nil {
		return
	}
	if eff.KeepData {
		v.Data.WroteAt(ch.Obj, version.Pre(eff.Post.FileID, &eff.Pre), version.Of(&eff.Post), data, off)
	}
	for _, fh := range eff.DropData {
		v.Data.Invalidate(fh)
	}
}
