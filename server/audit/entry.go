package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"twincap/encoder/segment"
)

// Errors that callers act on.
var (
	// ErrBadEntry: a line or record is not a well-formed entry.
	ErrBadEntry = errors.New("audit: bad entry")
	// ErrBroken: the chain does not verify (see *ChainError for where).
	ErrBroken = errors.New("audit: trail does not verify")
	// ErrNotFound: no entry concerns the recording.
	ErrNotFound = errors.New("audit: no entries for the recording")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("audit: log is closed")
)

// Action is what an entry records.
type Action string

// Actions.
const (
	Login          Action = "login"
	LoginFailed    Action = "login_failed"
	Logout         Action = "logout"
	Start          Action = "start"
	Stop           Action = "stop"
	Cancel         Action = "cancel"
	SettingsChange Action = "settings_change"
	Upload         Action = "upload"
	Deletion       Action = "deletion"
	Update         Action = "update"
	// Recover is written by Open when it cut a torn tail.
	Recover Action = "recover"
)

var actions = []Action{Login, LoginFailed, Logout, Start, Stop, Cancel, SettingsChange, Upload, Deletion, Update, Recover}

// ParseAction rejects unknown actions.
func ParseAction(s string) (Action, error) {
	for _, a := range actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("%w: unknown action %q", ErrBadEntry, s)
}

// UnmarshalText rejects unknown actions wherever an Action is decoded.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Limits of a record.
const (
	MaxActor   = 128
	MaxDetails = 8 << 10
	MaxLine    = 32 << 10 // longer than any line a valid record makes
)

// SystemActor is the actor of entries the server makes on its own.
const SystemActor = "system"

// Record is what a caller appends; the log adds seq, time and hashes.
type Record struct {
	Actor     string // the user, or SystemActor
	Action    Action
	Recording string // optional recording ID
	Details   string // optional free text (valid UTF-8)
}

// Entry is one entry of the trail.
type Entry struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Action    Action    `json:"action"`
	Recording string    `json:"recording,omitempty"`
	Details   string    `json:"details,omitempty"`
	Prev      string    `json:"prev"` // hex SHA-256 of the entry before
	Hash      string    `json:"hash"` // hex SHA-256 of this entry
}

// Record is the caller's part of the entry.
func (e Entry) Record() Record {
	return Record{Actor: e.Actor, Action: e.Action, Recording: e.Recording, Details: e.Details}
}

// Validate checks a record before it is appended.
func (r Record) Validate() error {
	var errs []string
	if r.Actor == "" || len(r.Actor) > MaxActor || !utf8.ValidString(r.Actor) ||
		strings.ContainsFunc(r.Actor, func(c rune) bool { return !unicode.IsPrint(c) }) {
		errs = append(errs, fmt.Sprintf("actor: want 1-%d printable characters", MaxActor))
	}
	if _, err := ParseAction(string(r.Action)); err != nil {
		errs = append(errs, fmt.Sprintf("action: unknown %q", r.Action))
	}
	if r.Recording != "" {
		if err := segment.ValidateID(r.Recording); err != nil {
			errs = append(errs, fmt.Sprintf("recording: %v", err))
		}
	}
	if len(r.Details) > MaxDetails || !utf8.ValidString(r.Details) {
		errs = append(errs, fmt.Sprintf("details: want at most %d bytes of UTF-8", MaxDetails))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrBadEntry, strings.Join(errs, "; "))
	}
	return nil
}

// GenesisHash is the prev of the first entry of a trail.
var GenesisHash = hex.EncodeToString(make([]byte, sha256.Size))

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func field(h []byte, s string) []byte {
	h = binary.BigEndian.AppendUint32(h, uint32(len(s)))
	return append(h, s...)
}

func recDigest(recording string) [sha256.Size]byte {
	return sha256.Sum256(append([]byte("twincap-audit-recording-v1\x00"), recording...))
}

func bodyDigest(e Entry) [sha256.Size]byte {
	b := []byte("twincap-audit-body-v1\x00")
	b = field(b, stamp(e.Time))
	b = field(b, e.Actor)
	b = field(b, string(e.Action))
	b = field(b, e.Details)
	return sha256.Sum256(b)
}

func linkHash(prev [sha256.Size]byte, seq uint64, rec, body [sha256.Size]byte) [sha256.Size]byte {
	b := make([]byte, 0, 22+3*sha256.Size+8)
	b = append(b, "twincap-audit-link-v1\x00"...)
	b = append(b, prev[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = append(b, rec[:]...)
	b = append(b, body[:]...)
	return sha256.Sum256(b)
}

// computeHash is the hash e must carry, given its Prev.
func computeHash(e Entry) (string, error) {
	prev, err := decodeHash(e.Prev)
	if err != nil {
		return "", fmt.Errorf("prev: %w", err)
	}
	h := linkHash(prev, e.Seq, recDigest(e.Recording), bodyDigest(e))
	return hex.EncodeToString(h[:]), nil
}

// decodeHash reads a lower-case hex SHA-256.
func decodeHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	if len(s) != 2*sha256.Size || strings.ToLower(s) != s {
		return h, errors.New("want 64 lower-case hex digits")
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, errors.New("want 64 lower-case hex digits")
	}
	return h, nil
}

// line is an entry as written: the time as a string, so that its spelling
// is ours.
type line struct {
	Seq       uint64 `json:"seq"`
	Time      string `json:"time"`
	Actor     string `json:"actor"`
	Action    Action `json:"action"`
	Recording string `json:"recording,omitempty"`
	Details   string `json:"details,omitempty"`
	Prev      string `json:"prev"`
	Hash      string `json:"hash"`
}

// Encode is the canonical line of e, without the newline.
func Encode(e Entry) ([]byte, error) {
	return json.Marshal(line{Seq: e.Seq, Time: stamp(e.Time), Actor: e.Actor, Action: e.Action,
		Recording: e.Recording, Details: e.Details, Prev: e.Prev, Hash: e.Hash})
}

// ParseLine reads one line of a trail (without its newline) and checks
// everything that does not depend on the entries around it: the fields,
// that the line is exactly the canonical encoding, and that the hash
// matches the content and prev. It does not check that prev is the hash of
// the entry before (Verify does).
func ParseLine(b []byte) (Entry, error) {
	if len(b) > MaxLine {
		return Entry{}, fmt.Errorf("%w: line of %d bytes", ErrBadEntry, len(b))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l line
	if err := dec.Decode(&l); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	t, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: time: %v", ErrBadEntry, err)
	}
	e := Entry{Seq: l.Seq, Time: t.UTC(), Actor: l.Actor, Action: l.Action, Recording: l.Recording,
		Details: l.Details, Prev: l.Prev, Hash: l.Hash}
	if err := e.Record().Validate(); err != nil {
		return Entry{}, err
	}
	if e.Seq == 0 {
		return Entry{}, fmt.Errorf("%w: seq 0 (entries count from 1)", ErrBadEntry)
	}
	canon, err := Encode(e)
	if err != nil || !bytes.Equal(canon, b) {
		return Entry{}, fmt.Errorf("%w: seq %d: not in canonical form", ErrBadEntry, e.Seq)
	}
	want, err := computeHash(e)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: seq %d: %v", ErrBadEntry, e.Seq, err)
	}
	if _, err := decodeHash(e.Hash); err != nil || e.Hash != want {
		return Entry{}, fmt.Errorf("%w: seq %d: hash does not match the content", ErrBadEntry, e.Seq)
	}
	return e, nil
}

// ChainError says where a trail stops verifying.
type ChainError struct {
	Line   int    // 1-based line number in the file; 0 when not from a file
	Seq    uint64 // the sequence number expected there
	Reason string
}

func (e *ChainError) Error() string {
	where := fmt.Sprintf("entry %d", e.Seq)
	if e.Line > 0 {
		where = fmt.Sprintf("line %d (%s)", e.Line, where)
	}
	return fmt.Sprintf("%v: %s: %s", ErrBroken, where, e.Reason)
}

// Unwrap lets errors.Is(err, ErrBroken) match.
func (e *ChainError) Unwrap() error { return ErrBroken }
