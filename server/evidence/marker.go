package evidence

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// formatVersion is written into claims and markers; readers refuse others.
const formatVersion = 1

// Claim is claim.json: the server that started the first upload of a
// recording and therefore owns its primary folder.
type Claim struct {
	Version     int       `json:"version"`
	RoomID      string    `json:"room_id"`
	RecordingID string    `json:"recording_id"`
	ServerID    string    `json:"server_id"`
	StartedAt   time.Time `json:"started_at"`
}

// Object is one uploaded object as listed in a marker.
type Object struct {
	Name string `json:"name"` // MediaName, MetadataName or AuditName
	Key  string `json:"key"`
	Size int64  `json:"size"`
	// SHA256 is the hex SHA-256 of the whole object.
	SHA256 string `json:"sha256"`
	// Parts is 1 for an object sent in one put.
	Parts int `json:"parts"`
	// StoreChecksum is the store's x-amz-checksum-sha256 for the object:
	// base64 of the SHA-256, or for a multipart object base64 of the
	// SHA-256 of the parts' SHA-256s followed by "-<parts>".
	StoreChecksum string `json:"store_checksum_sha256"`
}

// Marker is complete.json, written after every object of an upload was
// verified. Only a folder with a marker holds a whole upload.
type Marker struct {
	Version     int    `json:"version"`
	RoomID      string `json:"room_id"`
	RecordingID string `json:"recording_id"`
	ServerID    string `json:"server_id"` // the uploader
	Folder      string `json:"folder"`
	// Supersedes names the server whose claim holds the primary folder,
	// when this upload is a second one in the uploader's own folder.
	Supersedes  string    `json:"supersedes,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	StartedAt   time.Time `json:"started_at"`
	CompletedAt time.Time `json:"completed_at"`
	Objects     []Object  `json:"objects"`
}

// Object returns the marker's object called name.
func (m Marker) Object(name string) (Object, bool) {
	for _, o := range m.Objects {
		if o.Name == name {
			return o, true
		}
	}
	return Object{}, false
}

// MediaBytes is the size of the uploaded media.mp4.
func (m Marker) MediaBytes() int64 {
	o, _ := m.Object(MediaName)
	return o.Size
}

// sameUpload reports whether m describes the same objects, from the same
// server, as n: a marker found in the store after a crash is ours when it
// matches what we were about to write, whatever its times say.
func (m Marker) sameUpload(n Marker) bool {
	if m.ServerID != n.ServerID || m.RecordingID != n.RecordingID || m.Folder != n.Folder || len(m.Objects) != len(n.Objects) {
		return false
	}
	for _, o := range m.Objects {
		p, ok := n.Object(o.Name)
		if !ok || p.Key != o.Key || p.Size != o.Size || p.SHA256 != o.SHA256 {
			return false
		}
	}
	return true
}

func parseMarker(b []byte) (Marker, error) {
	var m Marker
	if err := json.Unmarshal(b, &m); err != nil {
		return Marker{}, fmt.Errorf("evidence: marker: %w", err)
	}
	if m.Version != formatVersion {
		return Marker{}, fmt.Errorf("evidence: marker: version %d, want %d", m.Version, formatVersion)
	}
	for _, n := range objectNames {
		if _, ok := m.Object(n); !ok {
			return Marker{}, fmt.Errorf("evidence: marker: no %s", n)
		}
	}
	return m, nil
}

func parseClaim(b []byte) (Claim, error) {
	var c Claim
	if err := json.Unmarshal(b, &c); err != nil {
		return Claim{}, fmt.Errorf("evidence: claim: %w", err)
	}
	if c.Version != formatVersion || c.ServerID == "" {
		return Claim{}, fmt.Errorf("evidence: claim: version %d or server %q not understood", c.Version, c.ServerID)
	}
	return c, nil
}

// Found is what the store holds for one recording ID.
type Found struct {
	Claim *Claim // nil: no upload started (as far as the store shows)
	// Markers are the complete uploads, the primary folder's first.
	Markers []Marker
}

// By returns serverID's complete upload, if any.
func (f Found) By(serverID string) (Marker, bool) {
	for _, m := range f.Markers {
		if m.ServerID == serverID {
			return m, true
		}
	}
	return Marker{}, false
}

// ChooseEvidence picks, among the complete uploads of one recording, the
// one that is the evidence: the most media bytes (a second upload exists
// because the other server held more), then the primary folder's (no
// Supersedes), then the earliest completed, then the server ID. ok is
// false when there is none.
func ChooseEvidence(markers []Marker) (m Marker, ok bool) {
	if len(markers) == 0 {
		return Marker{}, false
	}
	return slices.MinFunc(markers, func(a, b Marker) int {
		primary := func(m Marker) int {
			if m.Supersedes == "" {
				return 0
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(b.MediaBytes(), a.MediaBytes()),
			cmp.Compare(primary(a), primary(b)),
			a.CompletedAt.Compare(b.CompletedAt),
			cmp.Compare(a.ServerID, b.ServerID),
		)
	}), true
}
