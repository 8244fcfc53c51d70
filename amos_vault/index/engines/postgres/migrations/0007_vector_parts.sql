-- 0007: the vectors in several HNSW graphs, each over a fixed random part of the rows
-- (index/engines/postgres/vectorindex.py says why and defines them). The one graph of 0001
-- goes; the engine's start-up (ensure_vector_index) builds the parts right after the
-- migrations, as the table's owner, with the memory a build needs. Until they are built a
-- search reads the vectors of every row in scope (exact, slower).
DROP INDEX IF EXISTS chunks_by_embedding;

-- The rows of one kind: a search among a rare kind's vectors (the facts, when the messages
-- are many) ranks them exactly through this index instead of walking the graphs for rows
-- of that kind, up to hnsw.max_scan_tuples of every part (measured at 1M messages and no
-- facts: 4.4 s a query through four graphs, 1.2 s through one, ~1 ms with this index).
CREATE INDEX IF NOT EXISTS chunks_by_kind ON chunks (kind);
