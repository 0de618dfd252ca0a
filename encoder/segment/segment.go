package segment

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// InitSeq is the sequence number of the init segment (ftyp+moov).
const InitSeq uint64 = 0

// MaxSize is the largest segment either side accepts. A 1 s segment at
// 1080p and a generous bitrate is far below it.
const MaxSize = 16 << 20

// Ext is the file extension of a stored segment.
const Ext = ".m4s"

// ErrBadName is returned by ParseName for a name that is not a segment name.
var ErrBadName = errors.New("segment: bad name")

// ErrBadChecksum is returned when bytes do not match their checksum.
var ErrBadChecksum = errors.New("segment: checksum mismatch")

// ErrBadID is returned by ValidateID for an unusable recording ID.
var ErrBadID = errors.New("segment: bad recording ID")

// Name is the file name of segment seq: fixed width so names sort in order.
func Name(seq uint64) string {
	return fmt.Sprintf("%010d%s", seq, Ext)
}

// ParseName is the inverse of Name.
func ParseName(name string) (uint64, error) {
	digits, ok := strings.CutSuffix(name, Ext)
	if !ok || len(digits) != 10 {
		return 0, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadName, name)
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return seq, nil
}

// Checksum is the SHA-256 of a segment's bytes (FIPS 140-3 approved).
type Checksum [sha256.Size]byte

// Sum computes the checksum of data.
func Sum(data []byte) Checksum { return sha256.Sum256(data) }

// String is the lower-case hex form used on the wire and in metadata.
func (c Checksum) String() string { return hex.EncodeToString(c[:]) }

// ParseChecksum parses the hex form.
func ParseChecksum(s string) (Checksum, error) {
	var c Checksum
	if len(s) != 2*len(c) {
		return c, fmt.Errorf("segment: checksum %q: want %d hex digits", s, 2*len(c))
	}
	if _, err := hex.Decode(c[:], []byte(s)); err != nil {
		return c, fmt.Errorf("segment: checksum %q: %w", s, err)
	}
	return c, nil
}

// Segment is one unit of a recording as it travels from the box to the
// servers. Start and Duration are media time (from the recording's first
// frame); they are informational, the bytes are what count.
type Segment struct {
	Seq      uint64
	Start    time.Duration
	Duration time.Duration
	Data     []byte
	Sum      Checksum
}

// New builds a segment and computes its checksum.
func New(seq uint64, start, dur time.Duration, data []byte) Segment {
	return Segment{Seq: seq, Start: start, Duration: dur, Data: data, Sum: Sum(data)}
}

// Verify reports whether Data matches Sum.
func (s Segment) Verify() error {
	if Sum(s.Data) != s.Sum {
		return fmt.Errorf("%w: segment %d", ErrBadChecksum, s.Seq)
	}
	return nil
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidateID accepts recording IDs that are safe as a single path element on
// every side: letters, digits, '-' and '_', at most 64 characters, not
// starting with a separator. Anything path-like is refused.
func ValidateID(id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("%w: %q (want 1-64 of [A-Za-z0-9_-], starting with a letter or digit)", ErrBadID, id)
	}
	return nil
}

// NewID makes a recording ID from the room and the start time; suffix
// (random hex from the caller) keeps two starts in one second apart.
func NewID(room string, start time.Time, suffix string) string {
	room = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, room)
	if len(room) > 24 {
		room = room[:24]
	}
	if room == "" || room[0] == '-' || room[0] == '_' {
		room = "r" + room
	}
	return fmt.Sprintf("%s-%s-%s", room, start.UTC().Format("20060102T150405Z"), suffix)
}
