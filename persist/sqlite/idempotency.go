package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/agora-dev/agora"
)

// RememberAnswer implements agora.Store.
func (db *DB) RememberAnswer(ctx context.Context, a agora.IdempotentAnswer) error {
	// One transaction, one commit, for both statements.
	tx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return storeError(err, "remember an answer")
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM idempotent_answers WHERE expires_at <= ?`, time.Now().UnixMicro()); err != nil {
		return storeError(err, "drop expired answers")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO idempotent_answers
		(participant_id, target, key, status, content_type, body, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (participant_id, target, key) DO NOTHING`,
		a.ParticipantID, a.Target, a.Key, a.Status, a.ContentType, a.Body, a.ExpiresAt.UnixMicro()); err != nil {
		return storeError(err, "remember an answer")
	}
	return storeError(tx.Commit(), "remember an answer")
}

// RememberedAnswer implements agora.Store.
func (db *DB) RememberedAnswer(ctx context.Context, participantID, target, key string, now time.Time) (*agora.IdempotentAnswer, error) {
	a := agora.IdempotentAnswer{ParticipantID: participantID, Target: target, Key: key}
	var expires int64
	err := db.read.QueryRowContext(ctx, `SELECT status, content_type, body, expires_at FROM idempotent_answers
		WHERE participant_id = ? AND target = ? AND key = ? AND expires_at > ?`,
		participantID, target, key, now.UnixMicro()).Scan(&a.Status, &a.ContentType, &a.Body, &expires)
	if err == sql.ErrNoRows {
		return nil, nil
	} else if err != nil {
		return nil, storeError(err, "read a remembered answer")
	}
	a.ExpiresAt = time.UnixMicro(expires).UTC()
	return &a, nil
}
