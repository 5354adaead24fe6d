-- Schema of the chat database. Collations are ones MariaDB 10.11 and MySQL 8 both know.
-- users, chats and chat_members are written by the gateway (strongly consistent,
-- used for authorization); messages, read_positions and persister_progress are
-- the persister's projection of the log and live on the chat's shard.

-- +goose Up
CREATE TABLE IF NOT EXISTS users (
  id            BIGINT       NOT NULL AUTO_INCREMENT,
  name          VARCHAR(32)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  -- name folded to lower case by the application: unique without regard to case,
  -- and the key of the prefix search
  name_key      VARCHAR(32)  CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  password_hash VARBINARY(100) NOT NULL,
  created_at    DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_users_name_key (name_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS chats (
  id              BIGINT       NOT NULL AUTO_INCREMENT,
  kind            VARCHAR(8)   CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  title           VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL DEFAULT '',
  -- "<lower user id>:<higher user id>" for a direct chat: one direct chat per pair
  direct_key      VARCHAR(48)  CHARACTER SET ascii COLLATE ascii_bin NULL,
  created_by      BIGINT       NOT NULL,
  created_at      DATETIME(3)  NOT NULL,
  -- maintained by the persister: the newest message and its time (created_at when empty)
  last_message_id BIGINT       NOT NULL DEFAULT 0,
  updated_at      DATETIME(3)  NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY uq_chats_direct_key (direct_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS chat_members (
  chat_id   BIGINT      NOT NULL,
  user_id   BIGINT      NOT NULL,
  role      VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  joined_at DATETIME(3) NOT NULL,
  PRIMARY KEY (chat_id, user_id),
  KEY ix_chat_members_user (user_id, chat_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS messages (
  chat_id     BIGINT      NOT NULL,
  id          BIGINT      NOT NULL,  -- the stream sequence of its message.created event
  author_id   BIGINT      NOT NULL,
  client_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  text        TEXT        CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
  reply_to_id BIGINT      NULL,
  sent_at     DATETIME(3) NOT NULL,
  -- history pages are range scans of one chat's rows in id order
  PRIMARY KEY (chat_id, id),
  -- the API's promise: never two messages of one author with one client_id in a chat
  UNIQUE KEY uq_messages_client (chat_id, author_id, client_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS read_positions (
  chat_id    BIGINT NOT NULL,
  user_id    BIGINT NOT NULL,
  message_id BIGINT NOT NULL,  -- only ever moves forward (GREATEST on upsert)
  PRIMARY KEY (chat_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The persister's high-water mark per log partition on this shard: every event
-- of the partition up to last_seq is applied here. After a restore from backup,
-- replay the persister from MIN(last_seq) + 1.
CREATE TABLE IF NOT EXISTS persister_progress (
  partition_id INT    NOT NULL,
  last_seq     BIGINT NOT NULL,
  updated_at   DATETIME(3) NOT NULL,
  PRIMARY KEY (partition_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE IF EXISTS persister_progress;
DROP TABLE IF EXISTS read_positions;
DROP TABLE IF EXISTS messages;
DROP TABLE IF EXISTS chat_members;
DROP TABLE IF EXISTS chats;
DROP TABLE IF EXISTS users;
