package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nfscacheproxy/nfscacheproxy/cache"
	"github.com/nfscacheproxy/nfscacheproxy/internal/rpc"
	"github.com/nfscacheproxy/nfscacheproxy/upstream"
	"github.com/nfscacheproxy/nfscacheproxy/warm"
)

// cacheOpts are the flags every cache subcommand shares.
type cacheOpts struct {
	output string // "text" or "json"
}

// print writes v as JSON with -o json, else calls text.
func (o *cacheOpts) print(w io.Writer, v any, text func(io.Writer) error) error {
	if o.output == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return text(w)
}

func newCacheCmd() *cobra.Command {
	o := &cacheOpts{}
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Inspect, verify, shrink, fill or invalidate a cache",
		Long: `Inspect, verify, shrink or fill a cache directory, or make a running proxy drop its cached metadata.

Sizes print in binary units (KiB, MiB, GiB); -o json prints exact numbers for scripts.
Exit codes: 0 success, 1 failure, 2 usage error, 3 "check" found problems it did not repair.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cmd.SetOut(cmd.ErrOrStderr())
			cmd.Help()
			return usageError{errors.New("which cache subcommand?")}
		},
	}
	cmd.PersistentFlags().StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if o.output != "text" && o.output != "json" {
			return usageError{fmt.Errorf("--output: %q is not text or json", o.output)}
		}
		return nil
	}
	cmd.AddCommand(newCacheStatsCmd(o), newCacheCheckCmd(o), newCacheCullCmd(o), newCacheWarmCmd(o), newCacheInvalidateCmd(o))
	return cmd
}

// requireDir checks --dir was given.
func requireDir(dir string) error {
	if dir == "" {
		return usageError{errors.New("--dir: required: the cache directory")}
	}
	return nil
}

// volumeName is a cache volume as an operator knows it, read back from
// its printable key "nfs,SERVER,EXPORT,ID".
type volumeName struct {
	Key    string `json:"key"`
	Server string `json:"server,omitempty"`
	Export string `json:"export,omitempty"`
	ID     int    `json:"id,omitempty"`
}

// parseVolumeKey reads a volume key back (keys cut for length keep only
// Key).
func parseVolumeKey(key string) volumeName {
	v := volumeName{Key: key}
	f := strings.Split(key, ",")
	if len(f) != 4 || f[0] != "nfs" {
		return v
	}
	server, err1 := url.PathUnescape(f[1])
	export, err2 := url.PathUnescape(f[2])
	id, err3 := strconv.ParseUint(f[3], 10, 16)
	if err1 != nil || err2 != nil || err3 != nil {
		return v
	}
	v.Server, v.Export, v.ID = server, export, int(id)
	return v
}

// String is SERVER:EXPORT, or the key when it could not be read back.
func (v volumeName) String() string {
	if v.Server == "" {
		return v.Key
	}
	return v.Server + ":" + v.Export
}

func ibytes(n int64) string { return humanize.IBytes(uint64(max(n, 0))) }

// cacheStats is the JSON of `cache stats`.
type cacheStats struct {
	Volumes        []volumeStats `json:"volumes"`
	Objects        int64         `json:"objects"`
	Bytes          int64         `json:"bytes"`
	GraveyardItems int64         `json:"graveyard_entries"`
	GraveyardBytes int64         `json:"graveyard_bytes"`
}

type volumeStats struct {
	volumeName
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

func newCacheStatsCmd(o *cacheOpts) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "stats --dir DIR",
		Short: "Objects and bytes per volume (works beside a running proxy)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDir(dir); err != nil {
				return err
			}
			du, err := cache.ReadStats(dir)
			if err != nil {
				return err
			}
			st := cacheStats{Volumes: []volumeStats{}, Objects: du.Objects, Bytes: du.Bytes, GraveyardItems: du.Graveyard, GraveyardBytes: du.GraveyardBytes}
			for _, v := range du.Volumes {
				st.Volumes = append(st.Volumes, volumeStats{parseVolumeKey(v.Key), v.Objects, v.Bytes})
			}
			return o.print(cmd.OutOrStdout(), st, func(w io.Writer) error {
				tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintf(tw, "VOLUME\tID\tOBJECTS\tSIZE\t\n")
				for _, v := range st.Volumes {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", v.volumeName, v.ID, v.Objects, ibytes(v.Bytes))
				}
				fmt.Fprintf(tw, "total\t\t%d\t%s\t\n", st.Objects, ibytes(st.Bytes))
				tw.Flush()
				_, err := fmt.Fprintf(w, "graveyard: %d entries, %s\n", st.GraveyardItems, ibytes(st.GraveyardBytes))
				return err
			})
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cache directory")
	return cmd
}

// checkReport is the JSON of `cache check`.
type checkReport struct {
	Objects     int            `json:"objects"`
	Granules    int            `json:"good_granules"`
	Bytes       int64          `json:"good_bytes"`
	BadRecords  int            `json:"bad_records"`
	BadGranules int            `json:"bad_granules"`
	Misplaced   int            `json:"misplaced"`
	Leftovers   int            `json:"leftovers"`
	Repaired    int            `json:"repaired"`
	Problems    []checkProblem `json:"problems"`
}

type checkProblem struct {
	Path    string `json:"path"`
	Problem string `json:"problem"`
}

func newCacheCheckCmd(o *cacheOpts) *cobra.Command {
	var dir, progress string
	var repair bool
	cmd := &cobra.Command{
		Use:   "check --dir DIR [--repair]",
		Short: "Verify every record and granule checksum; --repair drops what is bad (proxy stopped)",
		Long: `Verify every record and every present granule's checksum. Without --repair nothing changes
(beside a running proxy it may report transient states); with --repair (proxy stopped) bad
granules, records without a use, misplaced files and leftovers are dropped.
Exit code 3 when problems were found and not repaired.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDir(dir); err != nil {
				return err
			}
			show, err := showProgress(progress, o, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			var onObject func(*cache.CheckReport)
			if show {
				// Length unknown without a second walk: data files and
				// verified bytes so far, redrawn at most 10 times a second.
				bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(cmd.ErrOrStderr()),
					progressbar.OptionSetDescription("checking"), progressbar.OptionShowCount(),
					progressbar.OptionSetItsString("objects"), progressbar.OptionShowIts(),
					progressbar.OptionSetSpinnerChangeInterval(0),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
				defer func() {
					bar.Exit()
					fmt.Fprintln(cmd.ErrOrStderr())
				}()
				onObject = func(r *cache.CheckReport) { bar.Set(r.Objects) }
			}
			rep, err := cache.CheckProgress(dir, repair, nil, onObject)
			if err != nil {
				return err
			}
			out := checkReport{Objects: rep.Objects, Granules: rep.Granules, Bytes: rep.Bytes, BadRecords: rep.BadRecords,
				BadGranules: rep.BadGranules, Misplaced: rep.Misplaced, Leftovers: rep.Leftovers, Repaired: rep.Repaired,
				Problems: []checkProblem{}}
			for _, p := range rep.Problems {
				out.Problems = append(out.Problems, checkProblem{Path: p.Path, Problem: p.Problem})
			}
			if err := o.print(cmd.OutOrStdout(), out, func(w io.Writer) error {
				fmt.Fprintf(w, "objects %d, good granules %d (%s), bad records %d, bad granules %d, misplaced %d, leftovers %d, repaired %d\n",
					out.Objects, out.Granules, ibytes(out.Bytes), out.BadRecords, out.BadGranules, out.Misplaced, out.Leftovers, out.Repaired)
				for _, p := range out.Problems {
					fmt.Fprintf(w, "  %s: %s\n", p.Path, p.Problem)
				}
				return nil
			}); err != nil {
				return err
			}
			if bad := rep.BadRecords + rep.BadGranules + rep.Misplaced; bad > 0 && !repair {
				return problemsError{fmt.Errorf("%d problems (run with --repair to drop them)", bad)}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cache directory")
	cmd.Flags().BoolVar(&repair, "repair", false, "drop bad records, granules and leftovers (needs the proxy stopped)")
	cmd.Flags().StringVar(&progress, "progress", "auto", "progress on stderr: auto (when stderr is a terminal and -o text), always or never")
	return cmd
}

// cullReport is the JSON of `cache cull`.
type cullReport struct {
	DryRun bool  `json:"dry_run"`
	Target int64 `json:"target_bytes"`
	// Culled is the number of objects culled (0 in a dry run).
	Culled int64 `json:"culled_objects"`
	// Bytes and Objects: what is cached after the cull (before it, in a
	// dry run).
	Bytes   int64 `json:"bytes"`
	Objects int64 `json:"objects"`
	// Excess is, in a dry run, the bytes above the target a cull would
	// remove, least recently used first (on-disk bytes, as stats counts).
	Excess int64 `json:"excess_bytes,omitempty"`
}

func newCacheCullCmd(o *cacheOpts) *cobra.Command {
	var dir, to string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "cull --dir DIR --to SIZE [--dry-run]",
		Short: "Cull least recently used objects down to SIZE (proxy stopped)",
		Long: `Cull least recently used objects until at most SIZE (e.g. 10GiB) is cached, then empty the
graveyard. The proxy must be stopped. --dry-run only reports what is cached and how much is
above SIZE, reading directory listings alone: it changes nothing and takes no lock.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireDir(dir); err != nil {
				return err
			}
			if to == "" {
				return usageError{errors.New("--to: required: the size to cull down to, e.g. 10GiB")}
			}
			target, err := ParseSize(to)
			if err != nil {
				return usageError{fmt.Errorf("--to: %w", err)}
			}
			if dryRun {
				du, err := cache.ReadStats(dir)
				if err != nil {
					return err
				}
				rep := cullReport{DryRun: true, Target: int64(target), Bytes: du.Bytes, Objects: du.Objects, Excess: max(du.Bytes-int64(target), 0)}
				return o.print(cmd.OutOrStdout(), rep, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "dry run: %s in %d objects cached; culling to %s would remove about %s, least recently used first\n",
						ibytes(rep.Bytes), rep.Objects, ibytes(rep.Target), ibytes(rep.Excess))
					return err
				})
			}
			return cacheCull(cmd.OutOrStdout(), o, dir, int64(target))
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cache directory")
	cmd.Flags().StringVar(&to, "to", "", "target size, e.g. 10GiB")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "report what a cull would remove; change nothing")
	return cmd
}

// cacheCull culls the cache in dir to target bytes and empties the
// graveyard.
func cacheCull(stdout io.Writer, o *cacheOpts, dir string, target int64) error {
	s, err := cache.Open(cache.Options{Dir: dir})
	if err != nil {
		return err
	}
	cerr := s.CullTo(target)
	st := s.Stats()
	if err := s.Close(); err != nil && cerr == nil {
		cerr = err
	}
	// Culled objects wait in the graveyard for the reaper; a one-off
	// command empties it itself (dead inodes only: always safe).
	if ents, err := os.ReadDir(filepath.Join(dir, "graveyard")); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(dir, "graveyard", e.Name()))
		}
	}
	rep := cullReport{Target: target, Culled: int64(st.Culls), Bytes: st.BytesUsed, Objects: int64(st.Objects)}
	if err := o.print(stdout, rep, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "culled %d objects; %s in %d objects remain\n", rep.Culled, ibytes(rep.Bytes), rep.Objects)
		return err
	}); err != nil && cerr == nil {
		cerr = err
	}
	return cerr
}

// warmFlags are the flags of `cache warm`.
type warmFlags struct {
	addr, export string
	uid, gid     uint
	progress     string // auto, always or never
}

// warmReport is the JSON of `cache warm`.
type warmReport struct {
	Files   int64   `json:"files"`
	Bytes   int64   `json:"bytes"`
	Seconds float64 `json:"seconds"`
}

func newCacheWarmCmd(o *cacheOpts) *cobra.Command {
	var f warmFlags
	cmd := &cobra.Command{
		Use:   "warm [--proxy HOST:PORT] [--export /PATH] PATH...",
		Short: "Read files or trees through a running proxy, filling its cache",
		Long: `Read every regular file under each PATH (relative to the volume's mount path) through a running
proxy, so its own read path (and readahead) fills its cache.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("name at least one PATH inside the export")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return cacheWarm(cmd.Context(), &f, args, o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.addr, "proxy", "127.0.0.1:2049", "the running proxy, HOST:PORT (NFS and MOUNT)")
	fs.StringVar(&f.export, "export", "/export", "the volume's mount path")
	fs.UintVar(&f.uid, "uid", 0, "AUTH_SYS uid to read as")
	fs.UintVar(&f.gid, "gid", 0, "AUTH_SYS gid to read as")
	fs.StringVar(&f.progress, "progress", "auto", "progress on stderr: auto (when stderr is a terminal and -o text), always or never")
	return cmd
}

// cacheWarm reads every regular file under the given paths through a
// running proxy, so its own read path (and readahead) fills the cache.
func cacheWarm(ctx context.Context, f *warmFlags, paths []string, o *cacheOpts, stdout, stderr io.Writer) error {
	showProgress, err := showProgress(f.progress, o, stderr)
	if err != nil {
		return err
	}
	i := strings.LastIndex(f.addr, ":")
	port, err := strconv.Atoi(f.addr[i+1:])
	if i <= 0 || err != nil {
		return usageError{fmt.Errorf("--proxy: %q is not HOST:PORT", f.addr)}
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, err := upstream.Dial(dctx, upstream.Options{Server: f.addr[:i], Export: f.export, NFSPort: port, MountPort: port, UnprivilegedPort: true})
	cancel()
	if err != nil {
		return err
	}
	defer c.Close()
	w := warm.Walker{C: c, Cred: rpc.Cred{Flavor: rpc.AuthSys, Machine: "nfscacheproxy-warm", UID: uint32(f.uid), GID: uint32(f.gid)}}
	if showProgress {
		// Length unknown: bytes read so far, redrawn at most 10 times a
		// second, on the reading goroutine (no ticker of its own).
		bar := progressbar.NewOptions64(-1, progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("warming"), progressbar.OptionShowBytes(true), progressbar.OptionUseIECUnits(true),
			progressbar.OptionShowCount(), progressbar.OptionSetSpinnerChangeInterval(0),
			progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish())
		w.OnBytes = func(n int64) { bar.Add64(n) }
		defer func() {
			bar.Exit()
			fmt.Fprintln(stderr)
		}()
	}
	start := time.Now()
	for _, p := range paths {
		fh, err := w.Resolve(ctx, p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := w.Walk(ctx, fh, p); err != nil {
			return err
		}
	}
	took := time.Since(start)
	rep := warmReport{Files: w.Files, Bytes: w.Bytes, Seconds: took.Seconds()}
	return o.print(stdout, rep, func(out io.Writer) error {
		_, err := fmt.Fprintf(out, "warmed %d files, %s in %v\n", rep.Files, ibytes(rep.Bytes), took.Round(time.Millisecond))
		return err
	})
}

// invalidateFlags are the flags of `cache invalidate`.
type invalidateFlags struct {
	socket, config   string
	admin, tokenFile string
	volume           string
	dryRun           bool
}

func newCacheInvalidateCmd(o *cacheOpts) *cobra.Command {
	var f invalidateFlags
	cmd := &cobra.Command{
		Use:   "invalidate [--volume ID|NAME] [--dry-run] [--socket PATH | --config FILE | --admin URL --token-file FILE]",
		Short: "Make a running proxy drop its cached attributes, names and listings",
		Long: `Make a running proxy drop its cached attributes, names and listings, of every volume or of one
(by id or by the path clients mount): the explicit invalidation static volumes rely on. Cached
data is kept and revalidated on its next read. --dry-run names the volumes without touching them.

The request goes to the proxy's admin API: its unix socket (--socket, else admin.socket or
cache.dir/admin.sock of --config / $NFSCACHEPROXY_CONFIG / $NFSCACHEPROXY_CACHE_DIR), which only
root and the proxy's user may use; or its TCP admin listener (--admin URL) with the bearer token
in --token-file. The metrics listener does not take it.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return cacheInvalidate(cmd.Context(), &f, os.Getenv, o, cmd.OutOrStdout())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.socket, "socket", "", "the proxy's admin socket (default: from the configuration)")
	fs.StringVar(&f.config, "config", "", "the proxy's YAML configuration, to find its admin socket (also $NFSCACHEPROXY_CONFIG)")
	fs.StringVar(&f.admin, "admin", "", "the proxy's TCP admin API, http://HOST:PORT (admin.listen), instead of the socket")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token for --admin")
	fs.StringVar(&f.volume, "volume", "", "volume id or name (mount path); empty: every volume")
	fs.BoolVar(&f.dryRun, "dry-run", false, "name the volumes that would be invalidated; change nothing")
	return cmd
}

// adminClient returns the HTTP client and base URL of the admin API the
// flags name.
func (f *invalidateFlags) adminClient(getenv func(string) string) (*http.Client, string, string, error) {
	if f.admin != "" {
		if f.socket != "" {
			return nil, "", "", usageError{errors.New("--admin and --socket: give one")}
		}
		if f.tokenFile == "" {
			return nil, "", "", usageError{errors.New("--admin needs --token-file: the TCP admin API requires a bearer token")}
		}
		b, err := os.ReadFile(f.tokenFile)
		if err != nil {
			return nil, "", "", err
		}
		return &http.Client{Transport: &http.Transport{}}, strings.TrimRight(f.admin, "/"), strings.TrimSpace(string(b)), nil
	}
	sock := f.socket
	if sock == "" {
		cfg, err := clientConfig(f.config, getenv)
		if err != nil {
			return nil, "", "", err
		}
		if sock = cfg.AdminSocket(); sock == "" {
			return nil, "", "", usageError{errors.New("no admin socket: give --socket PATH, or --config FILE of a proxy with cache.dir or admin.socket")}
		}
	}
	var d net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", sock)
	}}
	return &http.Client{Transport: tr}, "http://nfscacheproxy", "", nil
}

// cacheInvalidate asks the running proxy to invalidate.
func cacheInvalidate(ctx context.Context, f *invalidateFlags, getenv func(string) string, o *cacheOpts, stdout io.Writer) error {
	client, base, token, err := f.adminClient(getenv)
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	q := url.Values{}
	if f.volume != "" && f.volume != "0" {
		q.Set("volume", f.volume)
	}
	if f.dryRun {
		q.Set("dry_run", "1")
	}
	u := base + "/admin/invalidate"
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var rep invalidateReply
	if err := json.Unmarshal(body, &rep); err != nil {
		return fmt.Errorf("the proxy's answer: %w", err)
	}
	return o.print(stdout, rep, func(w io.Writer) error {
		verb := "invalidated"
		if rep.DryRun {
			verb = "dry run: would invalidate"
		}
		fmt.Fprintf(w, "%s %d volume(s):", verb, len(rep.Volumes))
		for _, v := range rep.Volumes {
			fmt.Fprintf(w, " %d (%s)", v.ID, v.Name)
		}
		_, err := fmt.Fprintln(w)
		return err
	})
}

// showProgress decides a --progress flag: auto shows a progress display
// when stderr is a terminal and the output is text.
func showProgress(flag string, o *cacheOpts, stderr io.Writer) (bool, error) {
	switch flag {
	case "auto":
		return o.output == "text" && isTerminal(stderr), nil
	case "always":
		return true, nil
	case "never":
		return false, nil
	}
	return false, usageError{fmt.Errorf("--progress: %q is not auto, always or never", flag)}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
