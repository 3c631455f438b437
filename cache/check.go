package cache

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// CheckReport is what Check found (and, with repair, fixed).
type CheckReport struct {
	Objects     int   // data files examined
	Granules    int   // present granules whose bytes matched their CRC
	Bytes       int64 // bytes in those granules
	BadRecords  int   // data files without a usable record
	BadGranules int   // granules unreadable or failing their CRC
	Misplaced   int   // files with unknown names or in the wrong fan-out directory
	Leftovers   int   // temporaries, orphan sidecars, graveyard entries
	Repaired    int   // problems fixed
	Problems    []CheckProblem
}

// CheckProblem names one problem; Check keeps the first maxProblems.
type CheckProblem struct {
	Path    string
	Problem string
}

const maxProblems = 1000

// Check verifies every record and every present granule's checksum under
// dir. Without repair it changes nothing and takes no lock (so a running
// proxy may make it report transient states). With repair it takes the
// cache lock (failing with ErrLocked if the cache is in use) and drops
// what is bad: bad granules leave the map, objects without a usable
// record, misplaced files and leftovers are removed.
func Check(dir string, repair bool, log *slog.Logger) (CheckReport, error) {
	return checkFS(OSFS(), dir, repair, log, nil)
}

// CheckProgress is Check calling progress after each data file, on the
// calling goroutine, with the report so far (for a progress display; it
// must not keep the report).
func CheckProgress(dir string, repair bool, log *slog.Logger, progress func(*CheckReport)) (CheckReport, error) {
	return checkFS(OSFS(), dir, repair, log, progress)
}

func checkFS(fsys FS, dir string, repair bool, log *slog.Logger, progress func(*CheckReport)) (CheckReport, error) {
	var rep CheckReport
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if repair {
		l, err := lockDir(dir)
		if err != nil {
			return rep, fmt.Errorf("cache: check %s: %w", dir, err)
		}
		defer l.release()
	}
	c := &checker{fsys: fsys, repair: repair, log: log, rep: &rep, progress: progress}
	cacheDir := filepath.Join(dir, "cache")
	vols, err := fsys.ReadDir(cacheDir, 0)
	if err != nil {
		return rep, fmt.Errorf("cache: check %s: %w", dir, err)
	}
	sort.Strings(vols)
	for _, vd := range vols {
		fans, err := fsys.ReadDir(filepath.Join(cacheDir, vd), 0)
		if err != nil {
			c.problem(filepath.Join(cacheDir, vd), "unreadable volume directory: "+err.Error(), false)
			continue
		}
		sort.Strings(fans)
		for _, fd := range fans {
			c.checkFanout(filepath.Join(cacheDir, vd, fd), fd)
		}
	}
	graves, _ := fsys.ReadDir(filepath.Join(dir, "graveyard"), 0)
	for _, g := range graves {
		rep.Leftovers++
		if repair && fsys.Remove(filepath.Join(dir, "graveyard", g)) == nil {
			rep.Repaired++
		}
	}
	return rep, nil
}

type checker struct {
	fsys     FS
	repair   bool
	log      *slog.Logger
	rep      *CheckReport
	progress func(*CheckReport) // nil: none
}

// problem records a problem; fix, when repairing, is already applied.
func (c *checker) problem(path, what string, fixed bool) {
	if len(c.rep.Problems) < maxProblems {
		c.rep.Problems = append(c.rep.Problems, CheckProblem{path, what})
	}
	if fixed {
		c.rep.Repaired++
	}
	c.log.Warn("cache: check", "path", path, "problem", what, "repaired", fixed)
}

// remove deletes name when repairing and reports whether it did.
func (c *checker) remove(name string) bool {
	return c.repair && c.fsys.Remove(name) == nil
}

func (c *checker) checkFanout(dir, fd string) {
	names, err := c.fsys.ReadDir(dir, 0)
	if err != nil {
		c.problem(dir, "unreadable fan-out directory: "+err.Error(), false)
		return
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, name)
		if fh, ok := parseHandleName(name); ok {
			if fanoutName(fh) != fd {
				c.rep.Misplaced++
				c.problem(path, "in the wrong fan-out directory", c.remove(path))
				continue
			}
			c.checkObject(path, fh)
			if c.progress != nil {
				c.progress(c.rep)
			}
			continue
		}
		base, _, _ := strings.Cut(name, ".")
		switch {
		case strings.HasSuffix(name, sidecarSuffix) && have[base]:
		case strings.HasSuffix(name, sidecarSuffix), strings.HasSuffix(name, sidecarTemp), strings.HasSuffix(name, swapSuffix):
			c.rep.Leftovers++
			c.problem(path, "leftover from an interrupted operation", c.remove(path))
		default:
			c.rep.Misplaced++
			c.problem(path, "not a cache file name", c.remove(path))
		}
	}
}

func (c *checker) checkObject(path string, fh []byte) {
	c.rep.Objects++
	flag := unix.O_RDONLY
	if c.repair {
		flag = unix.O_RDWR
	}
	f, err := c.fsys.OpenFile(path, flag, 0)
	if err != nil {
		c.problem(path, "cannot open: "+err.Error(), false)
		return
	}
	defer f.Close()
	buf := make([]byte, 8192)
	rec, side, err := loadRecord(c.fsys, f, path, fh, false, buf)
	if err != nil {
		c.rep.BadRecords++
		fixed := c.remove(path)
		if fixed {
			c.fsys.Remove(path + sidecarSuffix)
		}
		c.problem(path, "record: "+err.Error(), fixed)
		return
	}
	shift := uint(rec.shift)
	data := make([]byte, 1<<shift)
	bad := 0
	for g := rec.cmap.next(0); g >= 0; g = rec.cmap.next(g + 1) {
		n := granuleLen(rec.coh.Size, g, shift)
		crc, _, _ := rec.cmap.lookup(g)
		if _, err := f.ReadAt(data[:n], g<<shift); err != nil || crc32c(data[:n]) != crc {
			c.rep.BadGranules++
			bad++
			if c.repair {
				rec.cmap.clear(g)
			}
			c.problem(path, fmt.Sprintf("granule %d fails its checksum", g), false)
			continue
		}
		c.rep.Granules++
		c.rep.Bytes += int64(n)
	}
	if bad > 0 && c.repair {
		rec.seq++
		if _, _, err := writeRecord(c.fsys, f, path, rec.appendTo(nil, string(fh)), true, side); err != nil {
			c.problem(path, "rewriting record: "+err.Error(), false)
			return
		}
		c.rep.Repaired += bad
	}
}

// DiskUsage is what ReadStats found.
type DiskUsage struct {
	Volumes        []VolumeUsage
	Objects        int64
	Bytes          int64 // allocated on disk, sidecars included
	Graveyard      int64 // entries awaiting the reaper
	GraveyardBytes int64
}

// VolumeUsage is one volume's share; Key is its printable key.
type VolumeUsage struct {
	Key     string
	Objects int64
	Bytes   int64
}

// ReadStats reports objects and bytes per volume from directory listings
// and lstat alone: it takes no lock and opens no object, so it works
// beside a running proxy.
func ReadStats(dir string) (DiskUsage, error) {
	fsys := OSFS()
	var du DiskUsage
	cacheDir := filepath.Join(dir, "cache")
	vols, err := fsys.ReadDir(cacheDir, 0)
	if err != nil {
		return du, fmt.Errorf("cache: read stats %s: %w", dir, err)
	}
	sort.Strings(vols)
	for _, vd := range vols {
		vu := VolumeUsage{Key: strings.TrimPrefix(vd, "I")}
		fans, _ := fsys.ReadDir(filepath.Join(cacheDir, vd), 0)
		for _, fd := range fans {
			names, _ := fsys.ReadDir(filepath.Join(cacheDir, vd, fd), 0)
			for _, name := range names {
				st, err := fsys.Lstat(filepath.Join(cacheDir, vd, fd, name))
				if err != nil {
					continue
				}
				if _, ok := parseHandleName(name); ok {
					vu.Objects++
				}
				vu.Bytes += st.Blocks
			}
		}
		du.Volumes = append(du.Volumes, vu)
		du.Objects += vu.Objects
		du.Bytes += vu.Bytes
	}
	graves, _ := fsys.ReadDir(filepath.Join(dir, "graveyard"), 0)
	for _, g := range graves {
		if st, err := fsys.Lstat(filepath.Join(dir, "graveyard", g)); err == nil {
			du.Graveyard++
			du.GraveyardBytes += st.Blocks
		}
	}
	return du, nil
}
