package testkit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestOwnServicesSurviveARestart(t *testing.T) {
	// A starting mariadbd deletes the #sql* files of its tmpdir: in the
	// shared one, the machine's server's temporary tables in use (it
	// crashed). The test's own server must leave them alone.
	canary := filepath.Join(os.TempDir(), fmt.Sprintf("#sql-logchat-canary-%d.MAI", os.Getpid()))
	if err := os.WriteFile(canary, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(canary)
	m := StartOwnMariaDB(t)
	if _, err := os.Stat(canary); err != nil {
		t.Fatalf("starting an own mariadbd deleted %s from the shared tmpdir: %v", canary, err)
	}
	dsn := m.Database(t, "probe")
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (7)"); err != nil {
		// multiStatements is off by default: do it in two.
		if _, err := db.Exec("CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO t VALUES (7)"); err != nil {
			t.Fatal(err)
		}
	}
	m.Stop(syscall.SIGKILL)
	if err := db.Ping(); err == nil {
		t.Fatal("mariadbd still answers after SIGKILL")
	}
	m.Start(t)
	var id int
	if err := db.QueryRow("SELECT id FROM t").Scan(&id); err != nil || id != 7 {
		t.Fatalf("after restart: id %d, err %v; want the committed row", id, err)
	}

	r := StartOwnRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: r.Addr})
	defer rdb.Close()
	ctx := context.Background()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	r.Stop(syscall.SIGTERM)
	r.Start(t)
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v" {
		t.Fatalf("after restart: %q, %v; want the value back", v, err)
	}
}
