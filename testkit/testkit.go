// Package testkit starts the real services tests run against: an in-process
// NATS JetStream server, a fresh MariaDB/MySQL database, a Redis key prefix and
// a Centrifugo process. Each call gives the test its own instance or namespace,
// so test packages run in parallel, and cleans up after the test.
//
// Nothing here skips a test when a service is missing: the test fails with the
// reason. `make test` (and .ci/run) start MariaDB and Redis and build
// Centrifugo before the tests run.
package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// RandomID returns a short random hex string for names that must not collide.
func RandomID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RepoRoot is the folder holding the project's go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("testkit: no go.mod above the working directory")
		}
		dir = parent
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
