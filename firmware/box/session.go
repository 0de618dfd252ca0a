package box

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"twincap/internal/durable"
)

// sessionFile keeps the operator's room ticket on the box, so that after a
// crash or reboot the box can ship what it still owes without waiting for
// someone to log in again. It lives beside the journals, readable by the
// daemon only, and is ignored once the ticket has expired.
const sessionFile = "session.json"

type storedSession struct {
	User    string    `json:"user"`
	Ticket  string    `json:"ticket"`
	Expires time.Time `json:"expires"`
}

func (b *Box) sessionPath() string { return filepath.Join(b.cfg.JournalDir, sessionFile) }

// saveSession writes the session durably, readable by the daemon only.
func (b *Box) saveSession(s storedSession) error {
	if b.cfg.JournalDir == "" {
		return nil
	}
	data, err := json.Marshal(s)
	if err == nil {
		err = durable.MkdirAll(b.cfg.JournalDir, 0o700)
	}
	if err == nil {
		err = durable.WriteFile(b.sessionPath(), data, 0o600)
	}
	if err != nil {
		return fmt.Errorf("box: session: %w", err)
	}
	return nil
}

func (b *Box) loadSession(now time.Time) (storedSession, bool) {
	data, err := os.ReadFile(b.sessionPath())
	if errors.Is(err, fs.ErrNotExist) {
		return storedSession{}, false
	}
	var s storedSession
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		b.log.Warn("box: stored session unreadable; an operator must log in", "err", err)
		return storedSession{}, false
	}
	if s.Ticket == "" || !now.Before(s.Expires) {
		return storedSession{}, false
	}
	return s, true
}

func (b *Box) dropSession() {
	if err := os.Remove(b.sessionPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		b.log.Warn("box: remove stored session", "err", err)
	}
}
