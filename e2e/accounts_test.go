package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/logchat/storage/sqlstore"
	"github.com/logchat/testkit"
)

// The accounts `make up` gives an installation (scripts/lib.sh, run here as
// stack.sh runs it, against a MariaDB and a Redis of the test's own):
//
//   - MySQL: the migrate account changes the schema; the app account, which
//     every running process uses, reads and writes rows and can do nothing
//     else: no CREATE, DROP or ALTER, no GRANT, no other database.
//   - Redis: an ACL user reaches the keys and channels under its prefix with
//     everyday commands only; the server's default user is left as it was.
//
// Running the script again changes nothing (the passwords stay those of the
// secrets file).
func TestInstallationAccounts(t *testing.T) {
	m := testkit.StartOwnMariaDB(t)
	r := testkit.StartOwnRedis(t)
	const db, prefix = "logchat_acct", "acct:"
	secrets := filepath.Join(t.TempDir(), "run", "secrets.env")
	libsh := func(script string) string {
		t.Helper()
		cmd := exec.Command("bash", "-c", "source scripts/lib.sh\n"+script)
		cmd.Dir = testkit.RepoRoot(t)
		// The script reads secrets a caller set in its environment: this
		// test's installation has only those of its own secrets file.
		for _, kv := range os.Environ() {
			k, _, _ := strings.Cut(kv, "=")
			if !slices.Contains([]string{"MYSQL_APP_PASSWORD", "MYSQL_MIGRATE_PASSWORD", "REDIS_PASSWORD", "LOGCHAT_INSTALL_ID",
				"MYSQL_HOST", "MYSQL_PORT", "MYSQL_SOCKET", "REDIS_HOST", "REDIS_PORT", "REDIS_ADMIN_PASSWORD"}, k) {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "LOGCHAT_SECRETS_FILE="+secrets, "MYSQL_HOST=127.0.0.1",
			"MYSQL_PORT="+strconv.Itoa(m.Port), "MYSQL_SOCKET="+filepath.Join(m.Dir, "sock"), "REDIS_PORT="+strconv.Itoa(r.Port))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("scripts/lib.sh: %v\n%s", err, stderr.String())
		}
		return string(out)
	}
	provision := func() (appDSN, migrateDSN, redisUser, redisPassword string) {
		t.Helper()
		out := libsh(`ensure_secrets
ensure_mysql_accounts ` + db + `
user="logchat-${SECRETS[LOGCHAT_INSTALL_ID]}-test"
ensure_redis_user "$user" ` + prefix + `
printf '%s\n' "$(app_dsn ` + db + `)" "$(migrate_dsn ` + db + `)" "$user" "${SECRETS[REDIS_PASSWORD]}"`)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 4 {
			t.Fatalf("scripts/lib.sh printed %q", out)
		}
		return lines[0], lines[1], lines[2], lines[3]
	}
	appDSN, migrateDSN, redisUser, redisPassword := provision()
	if fi, err := os.Stat(secrets); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secrets file: %v %v, want mode 0600", fi.Mode(), err)
	}
	if strings.Contains(appDSN, "logchat:logchat@") || !strings.Contains(appDSN, "_app:") || !strings.Contains(migrateDSN, "_migrate:") {
		t.Fatalf("accounts %q, %q: want this installation's own", account(appDSN), account(migrateDSN))
	}
	if a2, m2, u2, p2 := provision(); a2 != appDSN || m2 != migrateDSN || u2 != redisUser || p2 != redisPassword {
		t.Fatal("a second run changed the installation's accounts")
	}

	t.Run("mysql", func(t *testing.T) {
		ctx := context.Background()
		open := func(dsn string) *sql.DB {
			d, err := sql.Open("mysql", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
		app, mig, root := open(appDSN), open(migrateDSN), open(m.ServerDSN)

		// The migrations, as the migrate command runs them, need the
		// migrate account; the running processes' account cannot apply them
		// but sees the version it waits for.
		appStore, err := sqlstore.Open(ctx, appDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer appStore.Close()
		if err := appStore.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "denied") {
			t.Fatalf("migrations as the app account: %v, want access denied", err)
		}
		migStore, err := sqlstore.Open(ctx, migrateDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer migStore.Close()
		if err := migStore.Migrate(ctx); err != nil {
			t.Fatalf("migrations as the migrate account: %v", err)
		}
		if err := appStore.CheckSchema(ctx); err != nil {
			t.Fatalf("the app account reads the schema version: %v", err)
		}

		exec := func(d *sql.DB, q string) error { _, err := d.ExecContext(ctx, q); return err }
		mustDeny := func(who string, d *sql.DB, q string) {
			t.Helper()
			if err := exec(d, q); err == nil || !strings.Contains(err.Error(), "denied") {
				t.Errorf("%s: %s: %v, want access denied", who, q, err)
			}
		}
		mustDo := func(who string, d *sql.DB, q string) {
			t.Helper()
			if err := exec(d, q); err != nil {
				t.Fatalf("%s: %s: %v", who, q, err)
			}
		}
		mustDo("migrate", mig, "CREATE TABLE probe (id INT PRIMARY KEY, v INT)")
		for _, q := range []string{
			"INSERT INTO probe VALUES (1, 1)", "UPDATE probe SET v = 2 WHERE id = 1",
			"SELECT v FROM probe", "DELETE FROM probe WHERE id = 1", "SELECT COUNT(*) FROM users",
		} {
			mustDo("app", app, q)
		}
		for _, q := range []string{
			"CREATE TABLE app_made (id INT)", "DROP TABLE probe", "DROP TABLE users",
			"ALTER TABLE users ADD COLUMN x INT", "TRUNCATE TABLE probe", "CREATE INDEX i ON probe (v)",
			"CREATE DATABASE logchat_app_made", "GRANT SELECT ON " + db + ".* TO CURRENT_USER",
		} {
			mustDeny("app", app, q)
		}
		mustDo("migrate", mig, "DROP TABLE probe")
		mustDeny("migrate", mig, "CREATE DATABASE logchat_migrate_made")
		mustDeny("migrate", mig, "GRANT SELECT ON "+db+".* TO CURRENT_USER")
		// Another database on the same server is out of reach of both.
		mustDo("root", root, "CREATE DATABASE other_app")
		mustDo("root", root, "CREATE TABLE other_app.t (id INT)")
		mustDeny("app", app, "SELECT * FROM other_app.t")
		mustDeny("migrate", mig, "DROP TABLE other_app.t")

		// The tests' account (published password logchat) reaches the
		// tests' throw-away databases only, even on a server where an older
		// version gave it every logchat database.
		mustDo("root", root, "CREATE USER 'logchat'@'127.0.0.1' IDENTIFIED BY 'logchat'")
		mustDo("root", root, "GRANT ALL PRIVILEGES ON `logchat`.* TO 'logchat'@'127.0.0.1'")
		mustDo("root", root, "GRANT ALL PRIVILEGES ON `logchat\\_%`.* TO 'logchat'@'127.0.0.1'")
		libsh("ensure_test_mysql")
		tests := open(fmt.Sprintf("logchat:logchat@tcp(127.0.0.1:%d)/", m.Port))
		mustDo("tests", tests, "CREATE DATABASE logchat_t_probe")
		mustDo("tests", tests, "CREATE TABLE logchat_t_probe.t (id INT)")
		mustDo("tests", tests, "DROP DATABASE logchat_t_probe")
		mustDeny("tests", tests, "SELECT COUNT(*) FROM "+db+".users")
		mustDeny("tests", tests, "CREATE DATABASE logchat")
		mustDeny("tests", tests, "CREATE DATABASE logchat_e2e")
	})

	t.Run("redis", func(t *testing.T) {
		ctx := context.Background()
		user := redis.NewClient(&redis.Options{Addr: r.Addr, Username: redisUser, Password: redisPassword, MaxRetries: -1})
		defer user.Close()
		if err := user.Set(ctx, prefix+"k", "v", time.Minute).Err(); err != nil {
			t.Fatalf("write under the prefix: %v", err)
		}
		// What the chat cache and the gateway do: scripts on their keys,
		// pipelines, pub/sub on their channels.
		if err := redis.NewScript(`return redis.call('GET', KEYS[1])`).Run(ctx, user, []string{prefix + "k"}).Err(); err != nil {
			t.Fatalf("script under the prefix: %v", err)
		}
		sub := user.Subscribe(ctx, prefix+"revocations")
		defer sub.Close()
		if _, err := sub.Receive(ctx); err != nil {
			t.Fatalf("subscribe under the prefix: %v", err)
		}
		if err := user.Publish(ctx, prefix+"revocations", "x").Err(); err != nil {
			t.Fatalf("publish under the prefix: %v", err)
		}
		for _, args := range [][]any{
			{"SET", "other:k", "v"}, {"GET", "other:k"}, {"PUBLISH", "other:ch", "x"},
			{"FLUSHALL"}, {"FLUSHDB"}, {"KEYS", "*"}, {"SCAN", "0"}, {"RANDOMKEY"},
			{"CONFIG", "GET", "*"}, {"ACL", "LIST"}, {"SCRIPT", "FLUSH"}, {"SHUTDOWN"},
		} {
			if err := user.Do(ctx, args...).Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
				t.Errorf("%v as the installation's user: %v, want NOPERM", args, err)
			}
		}
		wrong := redis.NewClient(&redis.Options{Addr: r.Addr, Username: redisUser, Password: "not-" + redisPassword, MaxRetries: -1})
		defer wrong.Close()
		if err := wrong.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
			t.Errorf("wrong password: %v, want WRONGPASS", err)
		}
		// Everyone else's Redis is as it was: the default user needs no
		// password and may do everything.
		def := redis.NewClient(&redis.Options{Addr: r.Addr, MaxRetries: -1})
		defer def.Close()
		if err := def.Set(ctx, "other:k", "v", time.Minute).Err(); err != nil {
			t.Fatalf("the default user: %v", err)
		}
	})
}

// account is a DSN's user name, for messages that must not show its password.
func account(dsn string) string { u, _, _ := strings.Cut(dsn, ":"); return u }
