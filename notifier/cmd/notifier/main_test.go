package main

import (
	"strings"
	"testing"

	"github.com/logchat/shared/config"
)

func TestReadSettingsChecksTheAPIBeforeAnythingIsOpened(t *testing.T) {
	const key = "a-key-of-this-installation"
	for _, tc := range []struct {
		url, key string
		bad      []string
	}{
		{"http://127.0.0.1:8000/api", key, nil},
		{"127.0.0.1:8000", key, []string{"CENTRIFUGO_API_URL"}},
		{"ftp://x/api", "short", []string{"CENTRIFUGO_API_URL", "CENTRIFUGO_API_KEY"}},
		{"http://127.0.0.1:8000/api", "", []string{"CENTRIFUGO_API_KEY"}},
	} {
		t.Setenv("CENTRIFUGO_API_URL", tc.url)
		t.Setenv("CENTRIFUGO_API_KEY", tc.key)
		t.Setenv("MYSQL_DSN", "app:a-password-of-this-installation@tcp(127.0.0.1:3306)/logchat")
		env := config.New()
		s := readSettings(env)
		err := env.Err()
		if len(tc.bad) == 0 && (err != nil || s.APIURL != tc.url || s.APIKey != tc.key) {
			t.Errorf("%+v: settings %+v, err %v", tc, s, err)
		}
		for _, name := range tc.bad {
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Errorf("%+v: error %v does not name %s", tc, err, name)
			}
		}
	}
}
