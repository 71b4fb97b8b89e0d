-- Ownership of each conversation, for fencing: the node whose actor holds a
-- conversation claims it by incrementing its epoch, and every write of the
-- conversation commits only while the epoch is still the one it was
-- stamped with. On one node this guards against a reloaded actor and a
-- stale one both writing; in a cluster, against two owners.
CREATE TABLE ownership (
    conversation_id text COLLATE "C" PRIMARY KEY REFERENCES conversations (id),
    epoch           bigint NOT NULL,
    owner           text NOT NULL DEFAULT '',
    claimed_at      timestamptz
);

INSERT INTO ownership (conversation_id, epoch) SELECT id, 1 FROM conversations;

-- agora_check_epochs is the first statement of every flush that writes for
-- conversations it did not create: it raises SQLSTATE AG001 (the store's
-- EFENCED) when one of them is no longer at the epoch its events carry, so
-- that the whole pipelined transaction fails before it writes anything.
-- The rows are locked FOR SHARE first, in key order: a concurrent claim
-- (an UPDATE) then waits for this transaction to end, so a new owner never
-- loads a conversation while an old owner's flush is still committing. The
-- comparison runs after the lock, in a statement of its own, so that it
-- sees the epoch of a claim that committed while the lock was awaited. A
-- conversation without a row is at epoch 0.
CREATE FUNCTION agora_check_epochs(ids text[], epochs bigint[]) RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    stale record;
BEGIN
    PERFORM 1 FROM ownership WHERE conversation_id = ANY (ids) ORDER BY conversation_id FOR SHARE;
    SELECT w.id, w.epoch AS stamped, coalesce(o.epoch, 0) AS current INTO stale
      FROM unnest(ids, epochs) AS w (id, epoch)
      LEFT JOIN ownership o ON o.conversation_id = w.id
     WHERE o.epoch IS DISTINCT FROM w.epoch
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'AG001',
            MESSAGE = format('Conversation %s is owned at epoch %s; the write was stamped %s.',
                             stale.id, stale.current, stale.stamped);
    END IF;
END
$$;
