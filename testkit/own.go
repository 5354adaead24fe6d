package testkit

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"
)

// Own services are server processes of the test's own (own data directory,
// own port), for tests that stop and start them: stopping them never
// disturbs the services the machine runs for everyone else.

// OwnMariaDB is a mariadbd of the test's own.
type OwnMariaDB struct {
	Dir  string
	Port int
	// ServerDSN has no database name; root with an empty password over TCP.
	ServerDSN string
	cmd       *exec.Cmd
	done      chan struct{}
}

// StartOwnMariaDB initialises a data directory and starts mariadbd on it.
func StartOwnMariaDB(t testing.TB) *OwnMariaDB {
	t.Helper()
	dir := t.TempDir()
	// Its own tmpdir: a starting mariadbd deletes every #sql* file in its
	// tmpdir, which in a shared /tmp are the temporary tables another
	// server (the machine's) is using: that server then crashes.
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+filepath.Join(dir, "data"),
		"--tmpdir="+filepath.Join(dir, "tmp"), "--user="+currentUser(), "--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db (Debian package mariadb-server): %v\n%s", err, out)
	}
	m := &OwnMariaDB{Dir: dir, Port: FreePort(t)}
	m.ServerDSN = fmt.Sprintf("root:@tcp(127.0.0.1:%d)/", m.Port)
	m.Start(t)
	t.Cleanup(func() { m.Stop(syscall.SIGKILL) })
	return m
}

// Start starts mariadbd and waits until it answers.
func (m *OwnMariaDB) Start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(mariadbdPath(), "--no-defaults", "--datadir="+filepath.Join(m.Dir, "data"), "--tmpdir="+filepath.Join(m.Dir, "tmp"),
		"--port="+strconv.Itoa(m.Port), "--bind-address=127.0.0.1", "--socket="+filepath.Join(m.Dir, "sock"),
		"--user="+currentUser(), "--innodb-buffer-pool-size=128M", "--skip-log-bin",
		"--pid-file="+filepath.Join(m.Dir, "pid"), "--log-error="+filepath.Join(m.Dir, "error.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	m.cmd, m.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(m.done)
	db, _ := sql.Open("mysql", m.ServerDSN)
	defer db.Close()
	deadline := time.Now().Add(30 * time.Second)
	for db.Ping() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(m.Dir, "error.log"))
			t.Fatalf("own mariadbd did not answer within 30s:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops mariadbd with sig (SIGTERM: clean shutdown; SIGKILL: a crash).
func (m *OwnMariaDB) Stop(sig syscall.Signal) {
	if m.cmd == nil {
		return
	}
	_ = syscall.Kill(-m.cmd.Process.Pid, sig)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
		<-m.done
	}
	m.cmd = nil
}

// Database creates a database on the server and returns its DSN.
func (m *OwnMariaDB) Database(t testing.TB, name string) string {
	t.Helper()
	db, err := sql.Open("mysql", m.ServerDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE DATABASE IF NOT EXISTS " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatal(err)
	}
	return m.ServerDSN + name
}

// OwnRedis is a redis-server of the test's own, with an append-only file so
// that a restart keeps the data (FLUSHALL is how a test loses it).
type OwnRedis struct {
	Dir  string
	Port int
	Addr string
	cfg  OwnRedisConfig
	cmd  *exec.Cmd
	done chan struct{}
}

// OwnRedisConfig shapes an own redis-server beyond the defaults.
type OwnRedisConfig struct {
	// Conf is redis.conf text (ACL users, requirepass, ...): written to a
	// file in the server's directory, never put on its command line.
	Conf string
	// TLS serves TLS only, on Port, with the PKI's server certificate;
	// clients are verified against its CA when Conf says tls-auth-clients.
	TLS *PKI
	// Client is how Start logs in to see that the server answers (an ACL
	// user, TLS); nil is the default user over plain TCP.
	Client *redis.Options
}

// StartOwnRedis starts redis-server on a free port.
func StartOwnRedis(t testing.TB) *OwnRedis { return StartOwnRedisWith(t, OwnRedisConfig{}) }

// StartOwnRedisWith starts redis-server on a free port, configured by cfg.
func StartOwnRedisWith(t testing.TB, cfg OwnRedisConfig) *OwnRedis {
	t.Helper()
	r := &OwnRedis{Dir: t.TempDir(), Port: FreePort(t), cfg: cfg}
	r.Addr = fmt.Sprintf("127.0.0.1:%d", r.Port)
	r.Start(t)
	t.Cleanup(func() { r.Stop(syscall.SIGKILL) })
	return r
}

// Start starts redis-server and waits until it answers.
func (r *OwnRedis) Start(t testing.TB) {
	t.Helper()
	conf := filepath.Join(r.Dir, "redis.conf")
	if err := os.WriteFile(conf, []byte(r.cfg.Conf+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The configuration file comes first; options after it override it.
	args := []string{conf, "--bind", "127.0.0.1",
		"--dir", r.Dir, "--logfile", filepath.Join(r.Dir, "redis.log"), "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"}
	if r.cfg.TLS != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(r.Port),
			"--tls-cert-file", r.cfg.TLS.CertFile, "--tls-key-file", r.cfg.TLS.KeyFile,
			"--tls-ca-cert-file", r.cfg.TLS.CAFile)
	} else {
		args = append(args, "--port", strconv.Itoa(r.Port))
	}
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(r.done)
	opts := &redis.Options{}
	if r.cfg.Client != nil {
		o := *r.cfg.Client
		opts = &o
	}
	opts.Addr, opts.MaxRetries = r.Addr, -1
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	deadline := time.Now().Add(15 * time.Second)
	for rdb.Ping(context.Background()).Err() != nil {
		select {
		case <-r.done:
			t.Fatalf("own redis-server exited:\n%s", r.log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("own redis-server did not answer within 15s:\n%s", r.log())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (r *OwnRedis) log() string {
	b, _ := os.ReadFile(filepath.Join(r.Dir, "redis.log"))
	return string(b)
}

// Stop stops redis-server with sig.
func (r *OwnRedis) Stop(sig syscall.Signal) {
	if r.cmd == nil {
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, sig)
	<-r.done
	r.cmd = nil
}

func mariadbdPath() string {
	for _, p := range []string{"mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld"} {
		if full, err := exec.LookPath(p); err == nil {
			return full
		}
	}
	return "/usr/sbin/mariadbd"
}

func currentUser() string {
	if os.Getuid() == 0 {
		return "root"
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return "root"
}
