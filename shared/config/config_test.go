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

func TestRequiredSecretRefusesUnsetEmptyShortAndCommittedValues(t *testing.T) {
	const key = "T_REQUIRED_SECRET"
	for _, tc := range []struct {
		name, value string
		set         bool
		wantErr     string // "" means accepted
	}{
		{name: "unset", set: false, wantErr: "is not set"},
		{name: "empty counts as unset", value: "", set: true, wantErr: "is not set"},
		{name: "committed jwt default", value: "dev-jwt-secret-change-me", set: true, wantErr: "development value"},
		{name: "committed hmac default", value: "dev-centrifugo-hmac-secret-change-me", set: true, wantErr: "development value"},
		{name: "committed api key", value: "dev-centrifugo-api-key-change-me", set: true, wantErr: "development value"},
		{name: "committed value with padding", value: " DEV-JWT-SECRET-CHANGE-ME ", set: true, wantErr: "development value"},
		{name: "too short", value: "0123456789abcde", set: true, wantErr: "at least 16 bytes"},
		{name: "random", value: "6f1c0e0b9a7d4c2e8f3a5b1d0c9e7f2a", set: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.set {
				t.Setenv(key, tc.value)
			}
			e := New()
			got := e.RequiredSecret(key)
			err := e.Err()
			if tc.wantErr == "" {
				if err != nil || got != tc.value {
					t.Fatalf("RequiredSecret = %q, %v; want the value accepted", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), key) {
				t.Fatalf("err = %v, want it to name %s and say %q", err, key, tc.wantErr)
			}
			if tc.value != "" && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(strings.TrimSpace(tc.value))) {
				t.Fatalf("the error repeats the secret's value: %v", err)
			}
			var buf bytes.Buffer
			e.Log(slog.New(slog.NewJSONHandler(&buf, nil)))
			if tc.value != "" && strings.Contains(buf.String(), strings.TrimSpace(tc.value)) {
				t.Fatalf("the config log shows the secret: %s", buf.String())
			}
		})
	}
}
