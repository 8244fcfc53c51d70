-- 0001: the chunks of many vaults, each private to its owner unless shared with the team.
-- Runs as the user of the database URL (who then owns the tables); the `vector` extension
-- exists already (the migration runner makes sure of it).

-- Every chunk the embedded engine stores (index/fulltext.py), plus who owns it, whether the
-- team may read it, and its vector. `vault_id` is the writing vault (its identity id).
CREATE TABLE chunks (
    vault_id      text     NOT NULL,
    key           bigint   NOT NULL,
    owner         text     NOT NULL,             -- identity id (mdna_usr_...)
    shared        boolean  NOT NULL DEFAULT false, -- front-matter `shared: team`
    chunk_id      text     NOT NULL,
    kind          text     NOT NULL,
    path          text     NOT NULL,
    session_key   bigint   NOT NULL DEFAULT 0,
    session_id    text     NOT NULL DEFAULT '',
    message_id    text     NOT NULL DEFAULT '',
    identity      text     NOT NULL DEFAULT '',
    user_id       text     NOT NULL DEFAULT '',
    status        text     NOT NULL DEFAULT '',
    role          text     NOT NULL DEFAULT '',
    author        text     NOT NULL DEFAULT '',
    tags          text[]   NOT NULL DEFAULT '{}',
    sources       text[]   NOT NULL DEFAULT '{}',
    title         text     NOT NULL DEFAULT '',
    text          text     NOT NULL,
    stamp         bigint   NOT NULL DEFAULT 0,   -- seconds since 1970 (0: unknown)
    line_start    integer  NOT NULL DEFAULT 0,
    line_end      integer  NOT NULL DEFAULT 0,
    content_hash  text     NOT NULL,             -- hash of the text the vector is made from
    context_terms tsvector NOT NULL,             -- the text with its neighbours (english)
    own_terms     tsvector NOT NULL,             -- the chunk's own text (english)
    embedding     halfvec(384),
    vector_hash   text,                          -- content_hash the embedding was made from
    -- A fixed random 1/1024th of the rows each (keys are hashes): similarity statistics
    -- read a few buckets instead of the whole table.
    bucket        smallint GENERATED ALWAYS AS ((key % 1024)::smallint) STORED,
    PRIMARY KEY (vault_id, key)
);
CREATE INDEX chunks_by_key ON chunks (key);
CREATE INDEX chunks_by_bucket ON chunks (bucket);
CREATE INDEX chunks_by_path ON chunks (vault_id, path);
CREATE INDEX chunks_by_terms ON chunks USING gin (context_terms);
CREATE INDEX chunks_by_session ON chunks (session_id);
CREATE INDEX chunks_by_hash ON chunks (vault_id, content_hash) WHERE embedding IS NOT NULL;
CREATE INDEX chunks_by_embedding ON chunks USING hnsw (embedding halfvec_cosine_ops)
    WITH (m = 16, ef_construction = 64);

-- What each vault indexed from each file (the sync manifest), written in the same
-- transaction as the chunks: a crash leaves both old or both new.
CREATE TABLE indexed_files (
    vault_id  text    NOT NULL,
    owner     text    NOT NULL,
    path      text    NOT NULL,
    hash      text    NOT NULL,
    size      bigint  NOT NULL,
    mtime_ns  bigint  NOT NULL,
    keys      bigint[] NOT NULL,
    error     text,
    PRIMARY KEY (vault_id, path)
);

-- Privacy, enforced here and not only in Python: requests and writers run as the role
-- amos_request (SET LOCAL ROLE) with their identity and vault in amos.identity / amos.vault
-- (set_config(..., true): for one transaction). FORCE applies the policies to the tables'
-- owner too; only a superuser or a BYPASSRLS role sees past them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'amos_request') THEN
        CREATE ROLE amos_request NOLOGIN;
    END IF;
END
$$;
GRANT amos_request TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO amos_request;
GRANT SELECT, INSERT, UPDATE, DELETE ON chunks, indexed_files TO amos_request;

ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE chunks FORCE ROW LEVEL SECURITY;
CREATE POLICY chunks_read ON chunks FOR SELECT
    USING (owner = current_setting('amos.identity', true) OR shared);
CREATE POLICY chunks_add ON chunks FOR INSERT
    WITH CHECK (vault_id = current_setting('amos.vault', true)
                AND owner = current_setting('amos.identity', true));
CREATE POLICY chunks_change ON chunks FOR UPDATE
    USING (vault_id = current_setting('amos.vault', true)
           AND owner = current_setting('amos.identity', true))
    WITH CHECK (vault_id = current_setting('amos.vault', true)
                AND owner = current_setting('amos.identity', true));
CREATE POLICY chunks_remove ON chunks FOR DELETE
    USING (vault_id = current_setting('amos.vault', true)
           AND owner = current_setting('amos.identity', true));

ALTER TABLE indexed_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE indexed_files FORCE ROW LEVEL SECURITY;
CREATE POLICY indexed_files_own ON indexed_files FOR ALL
    USING (vault_id = current_setting('amos.vault', true)
           AND owner = current_setting('amos.identity', true))
    WITH CHECK (vault_id = current_setting('amos.vault', true)
                AND owner = current_setting('amos.identity', true));
