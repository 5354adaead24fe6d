package sqlstore_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/logchat/shared/config"
	"github.com/logchat/storage/sqlstore"
)

// A DSN holds a password: it has no default, and its value never reaches the
// error or the config log.
func TestDSNFromEnvIsARequiredSecret(t *testing.T) {
	const secret = "s3cret-password-of-the-test"
	for _, tc := range []struct {
		name, value, wantErr string
	}{
		{"unset", "", "MYSQL_DSN is not set"},
		{"malformed", "app:" + secret + "@tcp(127.0.0.1:3306)", "MYSQL_DSN: "},
		{"valid", "app:" + secret + "@tcp(127.0.0.1:3306)/logchat", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MYSQL_DSN", tc.value)
			env := config.New()
			got := sqlstore.DSNFromEnv(env, "MYSQL_DSN")
			var log bytes.Buffer
			env.Log(slog.New(slog.NewJSONHandler(&log, nil)))
			err := env.Err()
			if tc.wantErr == "" {
				if err != nil || got != tc.value {
					t.Fatalf("%q, %v", got, err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if strings.Contains(log.String(), secret) || (err != nil && strings.Contains(err.Error(), secret)) {
				t.Fatalf("the password reached the log or the error: %s / %v", log.String(), err)
			}
		})
	}
	if _, err := sqlstore.Open(t.Context(), ""); err == nil {
		t.Fatal("Open accepted an empty DSN (an anonymous login to the local server)")
	}
}
