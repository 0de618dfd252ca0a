package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"twincap/internal/durable"
)

const filePerm = 0o640

// Config configures a Log.
type Config struct {
	// Path is the trail's file; its folder is created if needed. One Log,
	// in one process, owns a file.
	Path string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Head names the last entry of a trail: its sequence number and hash. An
// empty trail's head is {0, GenesisHash}.
type Head struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

// Filter selects entries; a zero field matches every entry.
type Filter struct {
	Recording string
	Actor     string
	Action    Action
}

func (f Filter) match(e Entry) bool {
	return (f.Recording == "" || e.Recording == f.Recording) &&
		(f.Actor == "" || e.Actor == f.Actor) &&
		(f.Action == "" || e.Action == f.Action)
}

// Log is an open audit trail. Its methods may be called from any goroutine.
// The entries are also kept in memory (a few hundred bytes each).
type Log struct {
	path string
	now  func() time.Time

	mu      sync.Mutex // guards everything below; held across write+fsync
	f       *os.File
	size    int64 // bytes of whole, durable entries
	entries []Entry
	head    Head
	// failed is set when a failed append could not be undone: the file
	// may hold a partial line, so nothing more is appended until reopen.
	failed error
	torn   int64 // bytes Open cut
}

// Open opens (creating if needed) the trail at cfg.Path, verifies it, and
// cuts a torn tail, recording the cut as a Recover entry. A trail that does
// not verify is an error matching ErrBroken, and is left untouched.
func Open(cfg Config) (*Log, error) {
	if cfg.Path == "" {
		return nil, errors.New("audit: no path")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dir := filepath.Dir(cfg.Path)
	if err := durable.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	data, err := os.ReadFile(cfg.Path)
	created := errors.Is(err, fs.ErrNotExist)
	if err != nil && !created {
		return nil, fmt.Errorf("audit: %w", err)
	}
	res := scan(data)
	if res.err != nil {
		return nil, fmt.Errorf("audit: open %s: %w", cfg.Path, res.err)
	}
	f, err := os.OpenFile(cfg.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, filePerm)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if created {
		if err := durable.SyncDir(dir); err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	l := &Log{path: cfg.Path, now: cfg.Now, f: f, size: res.good, entries: res.entries, head: res.head()}
	if len(res.torn) > 0 {
		if err := l.cut(); err != nil {
			_ = f.Close()
			return nil, err
		}
		l.torn = int64(len(res.torn))
		sum := sha256.Sum256(res.torn)
		if _, err := l.Append(Record{Actor: SystemActor, Action: Recover, Details: fmt.Sprintf(
			"cut %d bytes of an unfinished entry after entry %d (sha256 %x); it was never acknowledged",
			len(res.torn), l.head.Seq, sum)}); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return l, nil
}

// cut truncates the file to the whole entries and makes that durable.
func (l *Log) cut() error {
	if err := l.f.Truncate(l.size); err != nil {
		return fmt.Errorf("audit: cut torn tail: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return fmt.Errorf("audit: cut torn tail: %w", err)
	}
	return nil
}

// TornBytes is how many bytes of a torn tail Open cut (0: none).
func (l *Log) TornBytes() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.torn
}

// Append adds an entry and returns it once it is durable.
func (l *Log) Append(r Record) (Entry, error) {
	if err := r.Validate(); err != nil {
		return Entry{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.f == nil:
		return Entry{}, ErrClosed
	case l.failed != nil:
		return Entry{}, fmt.Errorf("audit: an earlier append failed and could not be undone (reopen the log): %w", l.failed)
	}
	e := Entry{Seq: l.head.Seq + 1, Time: l.now().UTC().Round(0), Actor: r.Actor, Action: r.Action,
		Recording: r.Recording, Details: r.Details, Prev: l.head.Hash}
	h, err := computeHash(e)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: %w", err)
	}
	e.Hash = h
	b, err := Encode(e)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	b = append(b, '\n')
	if _, err := l.f.Write(b); err != nil {
		return Entry{}, l.undo(fmt.Errorf("audit: write: %w", err))
	}
	if err := l.f.Sync(); err != nil {
		return Entry{}, l.undo(fmt.Errorf("audit: fsync: %w", err))
	}
	l.size += int64(len(b))
	l.entries = append(l.entries, e)
	l.head = Head{Seq: e.Seq, Hash: e.Hash}
	return e, nil
}

// undo removes what a failed append may have left, so that the next append
// does not follow a partial line.
func (l *Log) undo(err error) error {
	if cerr := l.cut(); cerr != nil {
		l.failed = err
		return errors.Join(err, cerr)
	}
	return err
}

// Head is the last entry's sequence number and hash.
func (l *Log) Head() Head {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.head
}

// Entries lists, in order, the entries that f selects.
func (l *Log) Entries(f Filter) []Entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Entry
	for _, e := range l.entries {
		if f.match(e) {
			out = append(out, e)
		}
	}
	return out
}

// Verify reads the file back and checks the whole chain, and that it ends
// where this log's last append did: an entry removed from the end, or a
// rewritten chain, is found too.
func (l *Log) Verify() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return ErrClosed
	}
	head, err := VerifyFile(l.path)
	if err != nil {
		return err
	}
	switch {
	case head.Seq < l.head.Seq:
		return &ChainError{Seq: head.Seq + 1, Reason: fmt.Sprintf(
			"the file ends at entry %d but %d were appended: entries were removed from the end", head.Seq, l.head.Seq)}
	case head.Seq > l.head.Seq:
		return &ChainError{Seq: l.head.Seq + 1, Reason: fmt.Sprintf(
			"the file has %d entries but only %d were appended: entries were added behind this log's back", head.Seq, l.head.Seq)}
	case head.Hash != l.head.Hash:
		return &ChainError{Seq: head.Seq, Reason: "the last entry's hash is not the one appended: the chain was rewritten"}
	}
	return nil
}

// Close closes the file. Appends after Close fail with ErrClosed.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// VerifyFile checks the trail at path from its first entry to its last
// and returns its head. An unfinished last line (which Open would cut) is
// reported too.
func VerifyFile(path string) (Head, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Head{}, fmt.Errorf("audit: %w", err)
	}
	res := scan(data)
	if res.err != nil {
		return Head{}, res.err
	}
	if len(res.torn) > 0 {
		return Head{}, &ChainError{Line: len(res.entries) + 1, Seq: uint64(len(res.entries)) + 1,
			Reason: fmt.Sprintf("unfinished entry at the end (%d bytes; Open cuts it)", len(res.torn))}
	}
	return res.head(), nil
}

// SetAside renames a trail that does not verify out of the way, durably,
// so that a new one can begin; the old file is kept for investigation. It
// returns the new name.
func SetAside(path string, now time.Time) (string, error) {
	to := path + ".broken-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("audit: set aside: %w", err)
	}
	if err := durable.SyncDir(filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("audit: set aside: %w", err)
	}
	return to, nil
}

// scanned is what scan found in a trail's bytes.
type scanned struct {
	entries []Entry
	good    int64  // bytes of whole entries that verify
	torn    []byte // a torn tail after them
	err     error  // a *ChainError: the trail is broken
}

func (s scanned) head() Head {
	if len(s.entries) == 0 {
		return Head{Hash: GenesisHash}
	}
	last := s.entries[len(s.entries)-1]
	return Head{Seq: last.Seq, Hash: last.Hash}
}

// scan verifies a trail line by line. A torn tail is an unterminated last
// line, or a last line with NUL bytes (a line whose end reached the disk
// before its middle); neither is ever a line Encode made.
func scan(data []byte) scanned {
	var s scanned
	prev, next := GenesisHash, uint64(1)
	for off, n := 0, 1; off < len(data); n++ {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			s.torn = data[off:]
			return s
		}
		ln := data[off : off+end]
		e, err := ParseLine(ln)
		switch {
		case err != nil && off+end+1 == len(data) && bytes.IndexByte(ln, 0) >= 0:
			s.torn = data[off:]
			return s
		case err != nil:
			s.err = &ChainError{Line: n, Seq: next, Reason: err.Error()}
			return s
		case e.Seq != next:
			s.err = &ChainError{Line: n, Seq: next, Reason: fmt.Sprintf(
				"found entry %d: entries were removed, reordered or inserted", e.Seq)}
			return s
		case e.Prev != prev:
			s.err = &ChainError{Line: n, Seq: next, Reason: "prev is not the hash of the entry before: an entry was removed, altered or inserted"}
			return s
		}
		s.entries = append(s.entries, e)
		prev, next = e.Hash, next+1
		off += end + 1
		s.good = int64(off)
	}
	return s
}
