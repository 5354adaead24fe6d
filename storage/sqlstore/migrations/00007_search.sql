-- The message search index: the searcher's projection of the log, on the
-- chat's shard (every query names one chat, so shards never meet).
--
-- search_terms is an inverted index: one row per distinct term of a message's
-- current text (terms are made in Go, storage/searchtext: Unicode words,
-- NFKC, case-folded). A query is a range scan per chat and prefix,
-- `chat_id = ? AND term LIKE 'prefix%'`, newest message ids first.
-- search_docs says what is indexed of each message: the sequence of the event
-- whose text it is (the message's id, or its last edit's), a tombstone once it
-- is deleted (so a replayed message.created cannot bring it back), and the
-- terms, so that an edit or a delete removes exactly the rows it added.

-- +goose Up
CREATE TABLE IF NOT EXISTS search_terms (
  chat_id    BIGINT        NOT NULL,
  term       VARBINARY(64) NOT NULL,  -- searchtext.MaxTermBytes
  message_id BIGINT        NOT NULL,
  PRIMARY KEY (chat_id, term, message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE IF NOT EXISTS search_docs (
  chat_id    BIGINT     NOT NULL,
  message_id BIGINT     NOT NULL,
  version    BIGINT     NOT NULL,  -- log sequence of the indexed text (message id or edit)
  deleted    TINYINT(1) NOT NULL DEFAULT 0,
  terms      BLOB       NOT NULL,  -- the indexed terms, '\n'-separated
  PRIMARY KEY (chat_id, message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The searcher's high-water mark per log partition on this shard (as
-- persister_progress is the persister's).
CREATE TABLE IF NOT EXISTS search_progress (
  partition_id INT         NOT NULL,
  last_seq     BIGINT      NOT NULL,
  updated_at   DATETIME(3) NOT NULL,
  PRIMARY KEY (partition_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE IF EXISTS search_progress;
DROP TABLE IF EXISTS search_docs;
DROP TABLE IF EXISTS search_terms;
