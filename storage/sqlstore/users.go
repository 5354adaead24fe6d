package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/logchat/shared/domain"
)

// nameKey is the form of a name that uniqueness and prefix search use.
//
// Each rune is mapped to the lower case of its upper case, a simple case fold:
// plain lower-casing would keep apart names that only differ in case forms
// of one letter, such as Greek final sigma (ς, σ and Σ) or the long s (ſ and
// s). The mapping is rune for rune, so the key has as many characters as the
// name and fits the same VARCHAR(32). It is done here, not by a collation,
// so that MariaDB and MySQL agree (their Unicode collations differ) and the
// key is exact (utf8mb4_bin).
func nameKey(name string) string {
	return strings.Map(func(r rune) rune { return unicode.ToLower(unicode.ToUpper(r)) }, name)
}

// CreateUser inserts a user. ErrConflict when the name is taken, ignoring
// case, or looks like a taken one (domain.NameSkeleton).
func (s *Store) CreateUser(ctx context.Context, name string, passwordHash []byte, at time.Time) (domain.User, error) {
	res, err := s.main.ExecContext(ctx,
		"INSERT INTO users (name, name_key, name_skeleton, password_hash, created_at) VALUES (?, ?, ?, ?, ?)",
		name, nameKey(name), domain.NameSkeleton(name), passwordHash, dbTime(at))
	if isMySQLError(err, errDupEntry) {
		return domain.User{}, fmt.Errorf("create user %q: %w", name, domain.ErrConflict)
	}
	if err != nil {
		return domain.User{}, fmt.Errorf("create user: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return domain.User{}, fmt.Errorf("create user: %w", err)
	}
	return domain.User{ID: id, Name: name}, nil
}

// UserByName finds a user by name, ignoring case, with the password hash.
func (s *Store) UserByName(ctx context.Context, name string) (domain.User, []byte, error) {
	var u domain.User
	var hash []byte
	var avatar sql.NullString
	err := s.main.QueryRowContext(ctx, "SELECT id, name, avatar_key, password_hash FROM users WHERE name_key = ?", nameKey(name)).
		Scan(&u.ID, &u.Name, &avatar, &hash)
	if err != nil {
		return domain.User{}, nil, notFound("user by name", err)
	}
	u.AvatarURL = avatarURL(avatar)
	return u, hash, nil
}

// UserByID finds a user. ErrNotFound when missing.
func (s *Store) UserByID(ctx context.Context, id int64) (domain.User, error) {
	u := domain.User{ID: id}
	var avatar sql.NullString
	if err := s.main.QueryRowContext(ctx, "SELECT name, avatar_key FROM users WHERE id = ?", id).Scan(&u.Name, &avatar); err != nil {
		return domain.User{}, notFound("user by id", err)
	}
	u.AvatarURL = avatarURL(avatar)
	return u, nil
}

// maxInList bounds the values of one IN (...) list; longer lists are queried
// in chunks.
const maxInList = 1000

// UsersByIDs returns the users that exist among ids, in any order.
func (s *Store) UsersByIDs(ctx context.Context, ids []int64) ([]domain.User, error) {
	ids = uniqueIDs(ids)
	out := make([]domain.User, 0, len(ids))
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), maxInList)]
		ids = ids[len(chunk):]
		rows, err := s.main.QueryContext(ctx,
			"SELECT id, name, avatar_key FROM users WHERE id IN ("+placeholders(len(chunk))+")", int64Args(chunk)...)
		if err != nil {
			return nil, fmt.Errorf("users by ids: %w", err)
		}
		users, err := scanUsers(rows)
		if err != nil {
			return nil, fmt.Errorf("users by ids: %w", err)
		}
		out = append(out, users...)
	}
	return out, nil
}

// usersByID maps the ids of users that exist to them.
func (s *Store) usersByID(ctx context.Context, ids []int64) (map[int64]domain.User, error) {
	users, err := s.UsersByIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]domain.User, len(users))
	for _, u := range users {
		out[u.ID] = u
	}
	return out, nil
}

// avatarURL is the URL of an avatar key, nil for none.
func avatarURL(key sql.NullString) *string {
	if !key.Valid || key.String == "" {
		return nil
	}
	u := domain.AvatarPath(key.String)
	return &u
}

// SearchUsers lists users whose name starts with prefix, ignoring case,
// ordered by name (case-folded), at most limit.
func (s *Store) SearchUsers(ctx context.Context, prefix string, limit int) ([]domain.User, error) {
	if limit <= 0 {
		return []domain.User{}, nil
	}
	// A range scan of uq_users_name_key: LIKE with a constant prefix uses the
	// index. '_' is allowed in names and is a LIKE wildcard, hence the escape.
	rows, err := s.main.QueryContext(ctx,
		"SELECT id, name, avatar_key FROM users WHERE name_key LIKE ? ESCAPE '!' ORDER BY name_key LIMIT ?",
		escapeLike(nameKey(prefix))+"%", limit)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	users, err := scanUsers(rows)
	if err != nil {
		return nil, fmt.Errorf("search users: %w", err)
	}
	return users, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer("!", "!!", "%", "!%", "_", "!_").Replace(s)
}

func scanUsers(rows *sql.Rows) ([]domain.User, error) {
	defer rows.Close()
	users := []domain.User{}
	for rows.Next() {
		var u domain.User
		var avatar sql.NullString
		if err := rows.Scan(&u.ID, &u.Name, &avatar); err != nil {
			return nil, err
		}
		u.AvatarURL = avatarURL(avatar)
		users = append(users, u)
	}
	return users, rows.Err()
}

// uniqueIDs returns ids without duplicates, in first-seen order.
func uniqueIDs(ids []int64) []int64 {
	seen := make(map[int64]bool, len(ids))
	out := make([]int64, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
