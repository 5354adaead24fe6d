-- The chat directory: which database holds each chat's chat-scoped rows
-- (messages, read positions, hidden messages, cleared histories, the search
-- index). Read and written on the main database only; like every table, it
-- exists on the shards too (the same migrations run everywhere) and stays
-- empty there. The gateway writes a chat's row in the transaction that
-- creates the chat; a chat without a row lives on the main database.
--
-- A move (sqlstore.MoveChat, `ingest shard move`) keeps its state here so that
-- re-running a crashed move resumes it: move_to is the target while the copy
-- is being prepared (shard still the source), move_from the source left to
-- clean up after the switch (shard already the target).

-- +goose Up
CREATE TABLE IF NOT EXISTS chat_shards (
  chat_id   BIGINT      NOT NULL,
  shard     VARCHAR(32) NOT NULL,
  move_to   VARCHAR(32) NULL,
  move_from VARCHAR(32) NULL,
  PRIMARY KEY (chat_id),
  KEY by_shard (shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every chat that exists already is on the main database.
INSERT IGNORE INTO chat_shards (chat_id, shard) SELECT id, 'main' FROM chats;

-- +goose Down
DROP TABLE IF EXISTS chat_shards;
