// Command ktool is the test helper of the kernel-client suite. It runs inside
// the Linux guest (cross-built on the host with CGO_ENABLED=0 and copied in
// through the virtio-9p share) against files on NFS mounts, and does what
// the shell cannot do well:
//
//	ktool fsx [-seed N] [-ops N] [-maxlen N] [-nommap] [-dropevery N] FILE
//	    random read/write/truncate/mmap operations checked against an in-memory model
//	ktool fsstress [-seed N] [-workers N] [-ops N] DIR
//	    concurrent namespace workload checked against per-worker models
//	ktool sparse [-offset N] FILE          write far past EOF, read the holes as zeros
//	ktool odirect FILE                     O_DIRECT writes and reads, cross-checked
//	ktool pattern write|verify FILE SEED OFFSET LEN
//	ktool mkfiles DIR N                    create N empty files f0000000…
//	ktool tree DIR                         a stable listing of a tree (for diff)
//	ktool waitfor FILE TEXT TIMEOUT        poll until FILE's content is TEXT
//	ktool ctl URL ACTION                   ask the host to do ACTION (e.g. restart)
//	ktool smallfiles create DIR N SIZE | stat DIR | read DIR   (benchmark timings)
//	ktool locks FILE_A FILE_B              fcntl/flock locks between two processes (A on FILE_A,
//	                                       B on FILE_B: the same file through a second mount)
//	ktool relay HOST:PORT                  copy stdin/stdout to a TCP connection (runs on the
//	                                       host: QEMU's guestfwd command, see vm.go)
//
// Every command prints only deterministic lines on stdout (the suite's .out
// files compare them) and its diagnostics on stderr; it exits 1 on a
// verification failure and 2 on a usage error.
package main

import (
	"fmt"
	"os"
)

type command struct {
	run  func(args []string) error
	help string
}

var commands = map[string]command{
	"fsx":        {runFsx, "random read/write/truncate/mmap verifier"},
	"fsstress":   {runFsstress, "concurrent namespace workload, model-checked"},
	"sparse":     {runSparse, "sparse file past 4 GiB"},
	"odirect":    {runODirect, "O_DIRECT reads and writes"},
	"pattern":    {runPattern, "write or verify a seeded pattern"},
	"mkfiles":    {runMkfiles, "create many empty files"},
	"tree":       {runTree, "stable listing of a tree"},
	"waitfor":    {runWaitFor, "poll a file until it has some content"},
	"ctl":        {runCtl, "ask the host test to act"},
	"smallfiles": {runSmallfiles, "time small-file create, stat or read"},
	"locks":      {runLocks, "fcntl/flock lock test between two processes"},
	"lockchild":  {runLockChild, "the second process of locks (internal)"},
	"relay":      {runRelay, "stdin/stdout to a TCP connection"},
}

// usageError is a bad invocation (exit status 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		usage()
	}
	if err := c.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "ktool %s: %v\n", os.Args[1], err)
		if _, ok := err.(usageError); ok {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: ktool COMMAND [flags] ARGS")
	for name, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-9s %s\n", name, c.help)
	}
	os.Exit(2)
}
