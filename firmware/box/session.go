package box

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
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

// saveSession writes the session durably (tmp, fsync, rename, fsync dir).
func (b *Box) saveSession(s storedSession) error {
	if b.cfg.JournalDir == "" {
		return nil
	}
	if err := os.MkdirAll(b.cfg.JournalDir, 0o700); err != nil {
		return fmt.Errorf("box: session: %w", err)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("box: session: %w", err)
	}
	tmp := b.sessionPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("box: session: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, b.sessionPath())
	}
	if err == nil {
		err = syncDir(b.cfg.JournalDir)
	}
	if err != nil {
		os.Remove(tmp)
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

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
