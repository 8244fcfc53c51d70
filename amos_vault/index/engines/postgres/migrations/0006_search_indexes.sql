-- 0006: indexes that let a search read only the rows it needs (scripts/bench_postgres.py).

-- Session chunks' terms on their own: the whole-session full-text signal (a query on kind
-- 'session') no longer walks the matching messages to find the few sessions among them.
CREATE INDEX chunks_by_session_terms ON chunks USING gin (context_terms)
    WHERE kind = 'session';

-- The authors of visible chunks, one index probe each (a skip scan), not a pass over the
-- table.
CREATE INDEX chunks_by_author ON chunks (author);
