package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/agora-dev/agora"
)

// RememberAnswer implements agora.Store.
func (db *DB) RememberAnswer(ctx context.Context, a agora.IdempotentAnswer) error {
	batch := &pgx.Batch{}
	batch.Queue(`DELETE FROM idempotent_answers WHERE expires_at <= now()`)
	batch.Queue(`INSERT INTO idempotent_answers (participant_id, target, key, status, content_type, body, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (participant_id, target, key) DO NOTHING`,
		a.ParticipantID, a.Target, a.Key, a.Status, a.ContentType, a.Body, a.ExpiresAt)
	return storeError(db.pool.SendBatch(ctx, batch).Close(), "remember an answer")
}

// RememberedAnswer implements agora.Store.
func (db *DB) RememberedAnswer(ctx context.Context, participantID, target, key string, now time.Time) (*agora.IdempotentAnswer, error) {
	a := agora.IdempotentAnswer{ParticipantID: participantID, Target: target, Key: key}
	err := db.pool.QueryRow(ctx, `SELECT status, content_type, body, expires_at FROM idempotent_answers
		WHERE participant_id = $1 AND target = $2 AND key = $3 AND expires_at > $4`,
		participantID, target, key, now).Scan(&a.Status, &a.ContentType, &a.Body, &a.ExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, storeError(err, "read a remembered answer")
	}
	a.ExpiresAt = a.ExpiresAt.UTC()
	return &a, nil
}
