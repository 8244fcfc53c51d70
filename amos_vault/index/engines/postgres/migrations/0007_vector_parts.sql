-- 0007: the vectors in several HNSW graphs, each over a fixed random part of the rows
-- (index/engines/postgres/vectorindex.py says why and defines them). The one graph of 0001
-- goes; the engine's start-up (ensure_vector_index) builds the parts right after the
-- migrations, as the table's owner, with the memory a build needs. Until they are built a
-- search reads the vectors of every row in scope (exact, slower).
DROP INDEX IF EXISTS chunks_by_embedding;
