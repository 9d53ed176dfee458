-- maildex sessions on a ClickHouse cluster: the table of schema.sql, replicated on each
-- shard (ReplicatedReplacingMergeTree), and a Distributed table over the shards, sharded
-- by server, so one server's sessions live on one shard and a reload of a server's
-- export replaces rows on the shard that has them (deduplication is per shard).
--
-- Assumes a cluster named `maildex` in the servers' <remote_servers> and the macros
-- {shard} and {replica}. Untested here (no cluster on one machine); schema.sql is the
-- single-server table that the tests load and query.
--
--   clickhouse-client --multiquery < deploy/clickhouse/cluster.sql
--   maildex export --index IDX | clickhouse-client --query "INSERT INTO maildex.sessions FORMAT Native"
--   clickhouse-client --query "$(maildex sql ip:203.0.113.0/24)"
--
-- `maildex sql` reads maildex.sessions with FINAL: on the Distributed table each shard
-- applies FINAL to its own rows, which is exact because every copy of a session has the
-- same server and so the same shard.
CREATE DATABASE IF NOT EXISTS maildex ON CLUSTER maildex;

CREATE TABLE IF NOT EXISTS maildex.sessions_local ON CLUSTER maildex
(
    -- The server whose logs hold the session (`maildex index --server`), '' if unnamed.
    server       LowCardinality(String),
    -- The date of the file that holds the first line, and the first line's time as written.
    date         Date32,
    channel      LowCardinality(String),            -- SMTP or SMTPI (with `line`: SMTPI-60353)
    line         UInt32,                            -- the line id (channel number)
    start        String,
    start_second UInt32,                            -- `start` as seconds since midnight
    `end`        Nullable(String),                  -- NULL: not closed in the logs read
    complete     Bool,
    -- IPv4 addresses mapped into IPv6 (::ffff:a.b.c.d), so any CIDR block, of either
    -- family, is one range of this column; '::' when the log names no peer.
    peer         IPv6,
    port         Nullable(UInt16),
    helo         Nullable(String),
    -- Addresses as maildex normalises them: no <>, lowercased; '' is the null sender.
    senders      Array(String),
    recipients   Array(String),                     -- accepted
    rejected     Array(String),                     -- refused
    messages     Array(String),                     -- message ids, as written
    direction    LowCardinality(String),            -- in or out
    tls          Bool,
    accepted     Bool,                              -- a message was taken
    auth         Nullable(String),                  -- the account it logged in as
    -- Where the first line came from (the file's name as indexed, 1-based line number,
    -- byte offset in the uncompressed file) and the SHA-256 of that file when indexed.
    file         LowCardinality(String),
    first_line   UInt64,
    last_line    UInt64,
    offset       UInt64,
    sha256       String,
    -- The transcript, verbatim, a line per element, and where each line came from.
    -- ZSTD: transcripts are most of the bytes, and repeat across sessions.
    lines        Array(String) CODEC(ZSTD(3)),
    line_files   Array(LowCardinality(String)),
    line_numbers Array(UInt64) CODEC(Delta, ZSTD(1)),
    line_offsets Array(UInt64) CODEC(Delta, ZSTD(1)),
    -- What became of its messages: the queue, delivery and deletion records about them.
    message_lines        Array(String) CODEC(ZSTD(3)),
    message_line_files   Array(LowCardinality(String)),
    message_line_numbers Array(UInt64) CODEC(Delta, ZSTD(1)),
    message_line_offsets Array(UInt64) CODEC(Delta, ZSTD(1)),
    -- Every file its lines and records came from, with the SHA-256 of each.
    files        Array(String),
    files_sha256 Array(String),
    session      UInt64,                            -- its number in the maildex index
    revision     UInt32,                            -- lines + message records: the newer copy wins
    is_deleted   UInt8,                             -- 1: a row withdrawn (a session's old key)

    -- Lookup keys, computed on insert.
    helo_key     String MATERIALIZED lower(ifNull(helo, '')),
    auth_key     String MATERIALIZED lower(ifNull(auth, '')),
    message_keys Array(String) MATERIALIZED arrayMap(m -> lower(m), messages),
    -- The domain of each address: its bytes after the last '@' (none if nothing follows).
    domains      Array(String) MATERIALIZED arrayDistinct(arrayFilter(d -> d != '',
                     arrayMap(a -> if(position(reverse(a), '@') = 0, '',
                                      substring(a, length(a) - position(reverse(a), '@') + 2)),
                              arrayConcat(senders, recipients, rejected)))),

    -- Bloom filters: the granules that may hold an address, a domain, a message id or a
    -- HELO name; `has(senders, 'a@b')` then reads only those.
    INDEX senders_bloom    senders      TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX recipients_bloom recipients   TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX rejected_bloom   rejected     TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX domains_bloom    domains      TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX messages_bloom   message_keys TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX helo_bloom       helo_key     TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX auth_bloom       auth_key     TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX line_bloom       line         TYPE bloom_filter(0.01) GRANULARITY 1
)
-- ReplacingMergeTree(version, is_deleted): of the rows with one sorting key, FINAL keeps
-- the highest revision, and none if that one is a withdrawal.
ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/maildex/sessions', '{replica}', revision, is_deleted)
-- A month per partition: an archive of years drops or reloads a month at a time, and a
-- date range prunes whole months.
PARTITION BY toYYYYMM(date)
-- Server, then day, then peer: a date range is a range of the key; within each day, a
-- CIDR block is a range of `peer` (ClickHouse's key analysis skips the granules of other
-- peers day by day), so a subnet over years reads a granule or two a day. File and
-- offset make the key one session's, which is what ReplacingMergeTree deduplicates by.
ORDER BY (server, date, peer, file, offset)
SETTINGS index_granularity = 8192;

-- What clients query and insert into: rows go to the shard of their server.
CREATE TABLE IF NOT EXISTS maildex.sessions ON CLUSTER maildex AS maildex.sessions_local
ENGINE = Distributed(maildex, maildex, sessions_local, cityHash64(server));
