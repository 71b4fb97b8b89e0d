-- The votes' foreign keys cost PostgreSQL a trigger per written vote, and
-- each of those takes a FOR KEY SHARE lock on the referenced opinion and
-- participant rows: about 40% of the server's CPU per vote in
-- BenchmarkApplyVotes (6 of 15 µs, measured). The locks guard against a
-- referenced row being deleted or its key changed by a concurrent
-- transaction, and neither ever happens: participants and opinions are
-- never deleted (deleted_at) and their keys never change. So the store
-- checks a flush's references in bulk instead, once per distinct opinion
-- and participant, with agora_check_vote_refs below; an import checks its
-- votes against its own rows before it writes (agora.Import.Validate).
ALTER TABLE votes
    DROP CONSTRAINT votes_participant_id_fkey,
    DROP CONSTRAINT votes_conversation_id_opinion_id_fkey;

-- agora_check_vote_refs raises foreign_key_violation (the store's EINVALID)
-- when one of the opinions (conversation, opinion pairs) or participants
-- that a flush's votes refer to does not exist, so that the pipelined
-- transaction fails before the votes are written, as the foreign keys made
-- it fail. Rows created earlier in the same transaction count.
CREATE FUNCTION agora_check_vote_refs(cids text[], oids text[], pids text[]) RETURNS void
LANGUAGE plpgsql STABLE AS $$
DECLARE
    missing text;
BEGIN
    SELECT format('opinion %s of conversation %s', u.o, u.c) INTO missing
      FROM unnest(cids, oids) AS u (c, o)
     WHERE NOT EXISTS (SELECT 1 FROM opinions WHERE conversation_id = u.c AND id = u.o)
     LIMIT 1;
    IF missing IS NULL THEN
        SELECT format('participant %s', u.p) INTO missing
          FROM unnest(pids) AS u (p)
         WHERE NOT EXISTS (SELECT 1 FROM participants WHERE id = u.p)
         LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'foreign_key_violation',
            MESSAGE = format('A vote refers to %s, which does not exist.', missing);
    END IF;
END
$$;
