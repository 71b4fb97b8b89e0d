-- Meta statements of imported Polis conversations (questions about the
-- participant rather than opinions): shown and counted like any opinion,
-- left out of the math. Only imports set the flag. A constant default
-- makes this a catalogue change, with no rewrite of the table.
ALTER TABLE opinions ADD COLUMN is_meta boolean NOT NULL DEFAULT false;
