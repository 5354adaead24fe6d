package sqlstore

import (
	"github.com/logchat/shared/config"
)

// DSNFromEnv reads a MySQL DSN from the variable key. A DSN carries an
// account's password, so it is a secret: masked in the config log, and
// without a default, since a committed default would be a password everyone
// knows. Each installation has two accounts (docs/security.md): the
// migrate command's (MIGRATE_MYSQL_DSN), which may change the schema, and
// the one every running process uses (MYSQL_DSN), which may only read and
// write rows. Problems are collected in e, naming the variable and never its
// value.
func DSNFromEnv(e *config.Env, key string) string {
	dsn := e.RequiredCredential(key, "the MySQL account to use, as user:password@tcp(host:3306)/database (`make up` creates this installation's accounts and sets it; docs/security.md)")
	if dsn != "" {
		// CheckDSN's errors name the fault, not the DSN: safe to report.
		if err := CheckDSN(dsn); err != nil {
			e.Check(false, "%s: %v", key, err)
		}
	}
	return dsn
}
