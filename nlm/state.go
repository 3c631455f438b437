package nlm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
)

// The state file keeps, across restarts of the proxy, what the upstream
// holds for it: every file an owner of a client locked (or is locking)
// through us, with that owner's upstream svid, and the proxy's NSM state
// number. Its format is one header line
//
//	nfscacheproxy-nlm-state 1 <crc32c of the body, 8 hex digits>
//
// and a JSON body (persisted). It is replaced whole: written to a
// temporary file in the same directory, synced, renamed over the old one
// and the directory synced, so a crash leaves the old or the new file.
// A file that does not parse or whose checksum fails is renamed aside
// (".corrupt") and the server starts with no state.

const stateMagic = "nfscacheproxy-nlm-state 1 "

// ErrStateCorrupt is wrapped by the error of loading a state file that
// is truncated, altered or not one.
var ErrStateCorrupt = errors.New("nlm: state file corrupt")

// persisted is the body of the state file.
type persisted struct {
	// Name is the caller_name the upstream knows our locks by.
	Name string `json:"name"`
	// NSMState is the NSM state number the last run announced (odd).
	NSMState int32 `json:"nsm_state"`
	// Locks are the files held (or being locked) upstream.
	Locks []persistedLock `json:"locks"`
}

// persistedLock is one file an owner of one client locked upstream: the
// client owner, its upstream svid, and the upstream file.
type persistedLock struct {
	Client string `json:"client"` // caller_name
	Addr   string `json:"addr"`   // the client's IP
	Svid   int32  `json:"svid"`   // the client's svid
	OH     []byte `json:"oh"`     // the client's owner handle
	UpSvid int32  `json:"up_svid"`
	Vol    uint16 `json:"vol"`
	UFH    []byte `json:"ufh"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeState renders p as a state file.
func encodeState(p *persisted) ([]byte, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("nlm: encode state: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s%08x\n", stateMagic, crc32.Checksum(body, castagnoli))
	b.Write(body)
	return b.Bytes(), nil
}

// decodeState parses a state file; its errors wrap ErrStateCorrupt.
func decodeState(b []byte) (*persisted, error) {
	head, body, ok := bytes.Cut(b, []byte("\n"))
	if !ok || !bytes.HasPrefix(head, []byte(stateMagic)) {
		return nil, fmt.Errorf("%w: no header", ErrStateCorrupt)
	}
	sum, err := strconv.ParseUint(string(head[len(stateMagic):]), 16, 32)
	if err != nil || len(head) != len(stateMagic)+8 {
		return nil, fmt.Errorf("%w: bad header %q", ErrStateCorrupt, head)
	}
	if got := crc32.Checksum(body, castagnoli); got != uint32(sum) {
		return nil, fmt.Errorf("%w: checksum %08x, header says %08x (truncated or altered)", ErrStateCorrupt, got, sum)
	}
	var p persisted
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStateCorrupt, err)
	}
	for _, l := range p.Locks {
		if l.UpSvid <= 0 || len(l.UFH) == 0 || len(l.UFH) > MaxNetobj || len(l.OH) > MaxNetobj || len(l.Client) > MaxStr {
			return nil, fmt.Errorf("%w: invalid lock record %+v", ErrStateCorrupt, l)
		}
	}
	return &p, nil
}

// stateFS is the file system the state file lives on; osFS in
// production, a fault-injecting one in tests.
type stateFS interface {
	ReadFile(name string) ([]byte, error)
	// WriteAtomic replaces name with b crash-safely.
	WriteAtomic(name string, b []byte) error
	Rename(oldpath, newpath string) error
	// RemoveTemps removes the temporary files of writes of name that a
	// crash interrupted.
	RemoveTemps(name string)
}

type osFS struct{}

func (osFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }
func (osFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) RemoveTemps(name string) {
	tmps, _ := filepath.Glob(name + ".tmp-*")
	for _, f := range tmps {
		os.Remove(f)
	}
}

// WriteAtomic writes b to a temporary file beside name, syncs it, renames
// it over name and syncs the directory.
func (osFS) WriteAtomic(name string, b []byte) error {
	dir := filepath.Dir(name)
	f, err := os.CreateTemp(dir, filepath.Base(name)+".tmp-")
	if err != nil {
		return fmt.Errorf("nlm: write state: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("nlm: write state %s: %w", name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("nlm: sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("nlm: sync state directory %s: %w", dir, err)
	}
	return nil
}

// loadState reads the state file at name. A missing file is no state
// (nil, nil); a corrupt one is renamed to name+".corrupt" and reported
// with an error wrapping ErrStateCorrupt (the caller logs it and starts
// with no state).
func loadState(fsys stateFS, name string) (*persisted, error) {
	b, err := fsys.ReadFile(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nlm: read state %s: %w", name, err)
	}
	p, err := decodeState(b)
	if err != nil {
		if rerr := fsys.Rename(name, name+".corrupt"); rerr != nil {
			return nil, fmt.Errorf("%w (and it could not be moved aside: %v)", err, rerr)
		}
		return nil, fmt.Errorf("%w (moved to %s.corrupt)", err, filepath.Base(name))
	}
	return p, nil
}
