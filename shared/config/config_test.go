package config

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestEnvReadsDefaultsOverridesAndMasksSecrets(t *testing.T) {
	t.Setenv("T_PORT", "9000")
	t.Setenv("T_SECRET", "hunter2")
	t.Setenv("T_BAD", "soon")
	e := New()
	if got := e.Int("T_PORT", 1); got != 9000 {
		t.Fatalf("Int = %d, want 9000", got)
	}
	if got := e.Duration("T_WAIT", time.Second); got != time.Second {
		t.Fatalf("Duration default = %v", got)
	}
	if got := e.Secret("T_SECRET", ""); got != "hunter2" {
		t.Fatalf("Secret = %q", got)
	}
	e.Duration("T_BAD", time.Second)
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "T_BAD") {
		t.Fatalf("Err = %v, want it to name T_BAD", err)
	}
	var buf bytes.Buffer
	e.Log(slog.New(slog.NewJSONHandler(&buf, nil)))
	if strings.Contains(buf.String(), "hunter2") || !strings.Contains(buf.String(), "***") {
		t.Fatalf("secret not masked in log: %s", buf.String())
	}
}
