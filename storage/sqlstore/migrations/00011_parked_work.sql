-- Work set aside for a chat shard that is down (sqlstore parked.go), so that
-- the other shards' chats keep being applied: a writer (the persister, the
-- searcher) that finds a shard unreachable stores that shard's part of its
-- batch here, in the main database, in the transaction that fences the
-- batch's chats, and moves on; while a shard has a parked_shards row, every
-- later part for it is parked behind the first (a chat's changes stay in log
-- order); when the shard answers again the parts are applied in order and
-- the rows deleted. Read and written on the main database only.

-- +goose Up
CREATE TABLE IF NOT EXISTS parked_shards (
  writer    VARCHAR(32) NOT NULL,
  shard     VARCHAR(32) NOT NULL,
  parked_at DATETIME(6) NOT NULL,
  PRIMARY KEY (writer, shard)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS parked_work (
  id     BIGINT      NOT NULL AUTO_INCREMENT,
  writer VARCHAR(32) NOT NULL,
  shard  VARCHAR(32) NOT NULL,
  -- The shard's part of a batch, JSON (an operator can read it).
  body   LONGBLOB    NOT NULL,
  PRIMARY KEY (id),
  KEY by_shard (writer, shard, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS parked_work;
DROP TABLE IF EXISTS parked_shards;
