package wire

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultPort is the standard room-server port; a configured port of 0
// means this one.
const DefaultPort = 8443

// Routes. {id} is a recording ID (segment.ValidateID), {seq} a decimal
// segment number.
const (
	PathHealth     = "/api/v1/health"                         // GET, no auth: Health
	PathLogin      = "/api/v1/login"                          // POST LoginRequest -> LoginReply
	PathLogout     = "/api/v1/logout"                         // POST, auth
	PathRecordings = "/api/v1/recordings"                     // GET list, POST CreateRequest -> RecordingState
	PathRecording  = "/api/v1/recordings/{id}"                // GET RecordingState, DELETE = cancel
	PathSegment    = "/api/v1/recordings/{id}/segments/{seq}" // PUT body=segment bytes -> SegmentAck
	PathGaps       = "/api/v1/recordings/{id}/gaps"           // POST Gap -> RecordingState
	PathStop       = "/api/v1/recordings/{id}/stop"           // POST StopRequest -> RecordingState (409 + missing when incomplete)
	PathMedia      = "/api/v1/recordings/{id}/media.mp4"      // GET the finalized MP4
	PathMetadata   = "/api/v1/recordings/{id}/metadata.json"  // GET Metadata
	// PathAudit is a finalized recording's audit trail: an audit.Export
	// (server/audit) as JSON, written beside media.mp4 and metadata.json.
	PathAudit = "/api/v1/recordings/{id}/audit.json" // GET

	// PathSettings is the server's settings (server/settings): GET with any
	// ticket; PATCH a JSON merge patch or PUT a whole document, as an
	// administrator. A refused change is a 400 SettingsError.
	PathSettings = "/api/v1/settings"
	// PathPeerSettings is the settings for the paired server, which
	// authenticates with a peer token (PeerScheme), not a ticket.
	PathPeerSettings = "/api/v1/peer/settings" // GET
	// PathPair is the last comparison of this server's settings with the
	// paired server's (any ticket); ?refresh=1 compares them now.
	PathPair = "/api/v1/pair" // GET
	// PathAuditTrail lists audit entries (administrators);
	// ?recording=ID, ?actor=NAME and ?action=ACTION select them.
	PathAuditTrail = "/api/v1/audit" // GET -> []audit.Entry
	// PathAuditVerify checks the whole audit trail (administrators).
	PathAuditVerify = "/api/v1/audit/verify" // GET -> AuditCheck
	// PathEvidence lists the evidence-upload queue (any ticket);
	// PathRecordingEvidence is one recording's upload state.
	PathEvidence          = "/api/v1/evidence"                 // GET
	PathRecordingEvidence = "/api/v1/recordings/{id}/evidence" // GET
	// PathEvidenceRetry starts a given-up upload again (administrators).
	PathEvidenceRetry = "/api/v1/recordings/{id}/evidence/retry" // POST
	// PathPeerUpload is how far this server got uploading one recording,
	// for the paired server (peer token, PeerScheme): GET -> PeerUpload.
	// The paired server POSTs to it (no body, 204) when its upload of the
	// recording completed, so that this one looks again at once.
	PathPeerUpload = "/api/v1/peer/uploads/{id}" // GET, POST
	// PathBoxUpdate is where the box reports each step of a remote update
	// (with the operator's ticket it holds); the server writes it to its
	// audit trail. A report sent again (same ID) is audited once.
	PathBoxUpdate = "/api/v1/box/updates" // POST UpdateReport -> 204
)

// PeerScheme is the Authorization scheme of the token one server of a room
// shows the other ("TwincapPeer <token>"; see server/auth).
const PeerScheme = "TwincapPeer"

// Headers.
const (
	// HeaderChecksum carries the SHA-256 (hex) of a segment body.
	HeaderChecksum = "X-Twincap-Checksum"
	// HeaderAuthorization carries "Bearer <ticket>".
	HeaderAuthorization = "Authorization"
)

// Mode is how the box buffers a recording.
type Mode string

const (
	Buffered   Mode = "buffered"
	Unbuffered Mode = "unbuffered"
)

// ParseMode rejects unknown values.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case Buffered, Unbuffered:
		return Mode(s), nil
	}
	return "", fmt.Errorf("wire: unknown mode %q (want buffered or unbuffered)", s)
}

// UnmarshalText rejects unknown modes wherever a Mode is decoded (JSON,
// TOML).
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Health is what GET /api/v1/health answers, without authentication.
type Health struct {
	ServerID string    `json:"server_id"` // stable name of this server
	RoomID   string    `json:"room_id"`
	BootID   string    `json:"boot_id"` // changes on every server start: a reboot is visible
	Time     time.Time `json:"time"`
	// FIPS says whether the server process runs in Go's FIPS 140-3 mode
	// (crypto/fips140.Enabled), whatever its settings ask for.
	FIPS bool `json:"fips"`
	// SettingsFingerprint digests the settings that should match between
	// the two servers of the room (settings.Fingerprint): equal
	// fingerprints mean no blocking or non-blocking difference.
	SettingsFingerprint string `json:"settings_fingerprint"`
	// Viewers is how many browsers watch the livestream from this server
	// now: the box's icon for the server says "viewing from this server".
	Viewers int `json:"viewers"`
}

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// LoginReply carries a ticket valid on every server of the room.
type LoginReply struct {
	Ticket  string    `json:"ticket"`
	User    string    `json:"user"`
	Expires time.Time `json:"expires"`
}

// CreateRequest starts (or, idempotently, resumes) a recording on a server.
type CreateRequest struct {
	ID        string    `json:"id"`
	RoomID    string    `json:"room_id"`
	BoxID     string    `json:"box_id"`
	Mode      Mode      `json:"mode"`
	StartedAt time.Time `json:"started_at"`
	// Outages are the times the box itself was down mid-interview (a
	// restart, a power cut): the recording goes on with the same ID and
	// these are kept in its metadata. The box sends every outage so far
	// each time it creates the recording; the server keeps the union.
	Outages []Outage `json:"outages,omitempty"`
}

// RecState is a recording's state on a server.
type RecState string

const (
	StateRecording RecState = "recording"
	StateFinalized RecState = "finalized"
)

// Gap is a run of segments [From, To) that a server will never hold
// (unbuffered mode: the box no longer had them when the server returned).
type Gap struct {
	From   uint64 `json:"from"`
	To     uint64 `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// Outage is a stretch of wall-clock time in which the box captured
// nothing because it was down; segment Seq is the first one after it.
// Nothing is missing: the segments before and after it are numbered
// consecutively and the media time jumps.
type Outage struct {
	Seq    uint64    `json:"seq"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Reason string    `json:"reason,omitempty"`
}

// RecordingState is a server's view of one recording.
type RecordingState struct {
	ID        string    `json:"id"`
	RoomID    string    `json:"room_id"`
	State     RecState  `json:"state"`
	Mode      Mode      `json:"mode"`
	StartedAt time.Time `json:"started_at"`
	// NextSeq is the first segment number the server does not hold with
	// every earlier one held or covered by a gap: the box resumes from here.
	NextSeq  uint64   `json:"next_seq"`
	Segments uint64   `json:"segments"` // how many segments are stored
	Bytes    int64    `json:"bytes"`
	Gaps     []Gap    `json:"gaps,omitempty"`
	Outages  []Outage `json:"outages,omitempty"`
	// Missing lists segments below StopRequest.Count that the server lacks
	// (only in a 409 reply to stop).
	Missing []uint64 `json:"missing,omitempty"`
}

// SegmentAck is the reply to a durable segment write.
type SegmentAck struct {
	Seq     uint64 `json:"seq"`
	NextSeq uint64 `json:"next_seq"`
	// Viewers is Health.Viewers at the time of the ack: the box learns it
	// while it streams segments back to back and checks no health.
	Viewers int `json:"viewers,omitempty"`
}

// StopRequest finalizes a recording of Count segments (0..Count-1).
type StopRequest struct {
	Count     uint64    `json:"count"`
	StoppedAt time.Time `json:"stopped_at"`
}

// SegmentMeta is one segment's line in the metadata.
type SegmentMeta struct {
	Seq      uint64 `json:"seq"`
	Size     int64  `json:"size"`
	Checksum string `json:"sha256"`
}

// Metadata is written beside the finalized MP4.
type Metadata struct {
	ID          string        `json:"id"`
	RoomID      string        `json:"room_id"`
	BoxID       string        `json:"box_id"`
	ServerID    string        `json:"server_id"`
	Mode        Mode          `json:"mode"`
	StartedAt   time.Time     `json:"started_at"`
	StoppedAt   time.Time     `json:"stopped_at"`
	FinalizedAt time.Time     `json:"finalized_at"`
	Segments    []SegmentMeta `json:"segments"`
	Gaps        []Gap         `json:"gaps"`
	Outages     []Outage      `json:"outages,omitempty"`
	MediaBytes  int64         `json:"media_bytes"`
	MediaSHA256 string        `json:"media_sha256"`
}

// Error is the body of every non-2xx reply.
type Error struct {
	Error string `json:"error"`
}

// FieldProblem is one thing wrong with one settings field, by its JSON
// path ("evidence.retry_attempts"); Field is empty when the whole
// document is wrong.
type FieldProblem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

// SettingsError is the body of a 400 reply to a settings change: it names
// every offending field. The settings are unchanged.
type SettingsError struct {
	Error  string         `json:"error"`
	Fields []FieldProblem `json:"fields"`
}

// PeerUpload is the reply of PathPeerUpload: how much of the recording the
// server holds and when its upload started and completed (zero: not yet).
type PeerUpload struct {
	Bytes    int64     `json:"bytes"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// AuditCheck is the reply of PathAuditVerify.
type AuditCheck struct {
	OK bool `json:"ok"`
	// Entries is the number of entries that verify; Head the hash of the
	// last one.
	Entries uint64 `json:"entries"`
	Head    string `json:"head"`
	Error   string `json:"error,omitempty"`
}

// The steps of a remote update that the box reports (UpdateReport.Event).
const (
	UpdateRefused    = "refused"     // a bundle failed its checks; nothing was written
	UpdateInstalling = "installing"  // writing the other slot
	UpdateRebooting  = "rebooting"   // installed; rebooting into it
	UpdateFailed     = "failed"      // the install failed; the running slot is untouched
	UpdateDone       = "updated"     // the box came up on the new version
	UpdateRolledBack = "rolled_back" // the new version did not come up; the box runs the old one
)

// UpdateEvents lists the valid UpdateReport events.
var UpdateEvents = []string{UpdateRefused, UpdateInstalling, UpdateRebooting, UpdateFailed, UpdateDone, UpdateRolledBack}

// UpdateReport is one step of a remote update on the box.
type UpdateReport struct {
	// ID names the report (unique per box and step), so that a report
	// sent again after a lost answer is audited once.
	ID      string    `json:"id"`
	BoxID   string    `json:"box_id"`
	Event   string    `json:"event"`
	Running string    `json:"running"`           // the version the box runs
	Version string    `json:"version,omitempty"` // the version offered or installed
	Reason  string    `json:"reason,omitempty"`
	At      time.Time `json:"at"`
}

// Limits of an UpdateReport's fields.
const (
	MaxUpdateField  = 128
	MaxUpdateReason = 2048
)

// Validate checks a report's fields.
func (u UpdateReport) Validate() error {
	var bad []string
	short := func(name, v string, required bool) {
		switch {
		case required && v == "":
			bad = append(bad, name+": missing")
		case len(v) > MaxUpdateField || !printable(v):
			bad = append(bad, fmt.Sprintf("%s: want at most %d printable characters", name, MaxUpdateField))
		}
	}
	short("id", u.ID, true)
	short("box_id", u.BoxID, true)
	short("running", u.Running, true)
	short("version", u.Version, false)
	if len(u.Reason) > MaxUpdateReason || !utf8.ValidString(u.Reason) {
		bad = append(bad, fmt.Sprintf("reason: want at most %d bytes of UTF-8", MaxUpdateReason))
	}
	if !slices.Contains(UpdateEvents, u.Event) {
		bad = append(bad, fmt.Sprintf("event: %q is not one of %v", u.Event, UpdateEvents))
	}
	if u.At.IsZero() {
		bad = append(bad, "at: missing")
	}
	if len(bad) > 0 {
		return fmt.Errorf("update report: %s", strings.Join(bad, "; "))
	}
	return nil
}

func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(c rune) bool { return !unicode.IsPrint(c) })
}
