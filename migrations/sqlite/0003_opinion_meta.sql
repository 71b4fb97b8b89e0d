-- Meta statements of imported Polis conversations (questions about the
-- participant rather than opinions): shown and counted like any opinion,
-- left out of the math. Only imports set the flag.
ALTER TABLE opinions ADD COLUMN is_meta INTEGER NOT NULL DEFAULT 0 CHECK (is_meta IN (0, 1));
