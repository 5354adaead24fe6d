package testkit

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// MySQLServerDSN is the server the tests use, without a database name.
// LOGCHAT_TEST_MYSQL overrides it. The default is the tests' own account,
// logchat with the password logchat, which `make test` and `make services`
// create (scripts/lib.sh ensure_test_mysql): its password is published, so
// it reaches the tests' throw-away databases (logchat_t_*, see MySQL) and
// nothing else. `make up` never creates it; a deployment's processes use
// accounts of their own (docs/security.md).
func MySQLServerDSN() string {
	return env("LOGCHAT_TEST_MYSQL", "logchat:logchat@tcp(127.0.0.1:3306)/")
}

// MySQL creates a fresh, empty database for the test and drops it afterwards.
// It returns a DSN for that database with parseTime and multiStatements on.
func MySQL(t testing.TB) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLServerDSN())
	if err != nil {
		t.Fatalf("mysql dsn: %v", err)
	}
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	name := "logchat_t_" + RandomID()
	if _, err := admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("mysql: create database (is MariaDB running on %s with the logchat user? `make services` sets both up): %v", cfg.Addr, err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err == nil {
			_, _ = db.Exec("DROP DATABASE IF EXISTS " + name)
			db.Close()
		}
	})
	cfg.DBName = name
	cfg.ParseTime = true
	cfg.MultiStatements = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	return cfg.FormatDSN()
}

// DBName returns the database name of a DSN.
func DBName(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(cfg.DBName)
}
