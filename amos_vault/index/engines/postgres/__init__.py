"""The PostgreSQL engine: a team's shared index on PostgreSQL with pgvector.

One module per concern: `connection` (URL, pool, one-line errors), `migrations` (numbered
SQL files under ``migrations/``, applied on start-up or by `amosvault db migrate`), `engine`
(`PostgresEngine`, the `IndexEngine` over the ``chunks`` table), `sql` (its statements),
`store` (one vault's part: open, sync, status) and `sharing` (who may read a chunk: its
owner, or the team when its file says ``shared: team``; ``private: true`` sessions are never
written). Privacy is enforced by PostgreSQL's row-level security.

Needs the ``team`` extra (psycopg, psycopg-pool, pgvector); nothing here is imported unless
``[index] engine = "postgres"``.
"""
