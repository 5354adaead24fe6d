package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/logchat/testkit"
)

// The processes are independent: each one's main is built from the shared
// vocabulary (shared), the bus (ingest), the storage layouts (storage) and
// its own packages, never from another process's. A process that imports
// another's package would have to be redeployed with it and could not be
// changed, scaled or replayed on its own; a module border no longer says so
// (the repository is one Go module), so this test does.
func TestProcessesImportNoOtherProcess(t *testing.T) {
	const module = "github.com/logchat/"
	processes := []string{"gateway", "persister", "cachewarm", "notifier", "searcher"}
	for _, proc := range processes {
		t.Run(proc, func(t *testing.T) {
			deps := goListDeps(t, "./"+proc+"/cmd/"+proc)
			var bad []string
			for _, dep := range deps {
				for _, other := range processes {
					if other != proc && (dep == module+other || strings.HasPrefix(dep, module+other+"/")) {
						bad = append(bad, dep)
					}
				}
			}
			if len(bad) > 0 {
				t.Errorf("%s's main depends on other processes' packages:\n  %s", proc, strings.Join(bad, "\n  "))
			}
		})
	}
}

// goListDeps lists every package a main is built from (go list -deps).
func goListDeps(t *testing.T, pkg string) []string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", pkg)
	cmd.Dir = testkit.RepoRoot(t)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, msg)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatalf("go list -deps %s listed nothing", pkg)
	}
	return deps
}
