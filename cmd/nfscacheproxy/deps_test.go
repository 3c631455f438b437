package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProductionBinaryLinksNoTestTooling: the production binary links
// neither package testing nor anything under integration/ (the benchmark
// and soak drivers, which start nfs-ganesha and relays, are
// cmd/nfscacheproxy-bench). go-nfs-client's XDR and RPC packages may only
// come in through go-nfs, the demo's embedded upstream: none of our
// packages imports the client.
func TestProductionBinaryLinksNoTestTooling(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", ".").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list -deps: %v\n%s", err, stderr)
	}
	const module = "github.com/nfscacheproxy/nfscacheproxy"
	n := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		n++
		pkg, imports := fields[0], fields[1:]
		switch {
		case pkg == "testing" || strings.HasPrefix(pkg, "testing/"):
			t.Errorf("the binary links %s", pkg)
		case strings.HasPrefix(pkg, module+"/integration"):
			t.Errorf("the binary links %s (test tooling)", pkg)
		}
		if strings.HasPrefix(pkg, module) {
			for _, imp := range imports {
				if strings.HasPrefix(imp, "github.com/willscott/go-nfs-client") {
					t.Errorf("%s imports %s: the binary's NFS client is package upstream", pkg, imp)
				}
			}
		}
	}
	if n < 50 {
		t.Fatalf("go list -deps listed %d packages; want the binary's whole dependency graph", n)
	}
}
