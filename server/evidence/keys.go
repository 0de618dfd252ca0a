package evidence

import (
	"net/url"
	"strings"
)

// Object names inside an upload's folder. Server IDs cannot contain '.',
// so a server's folder never has one of these names.
const (
	MediaName    = "media.mp4"
	MetadataName = "metadata.json"
	AuditName    = "audit.json"
	MarkerName   = "complete.json"
	ClaimName    = "claim.json"
)

// objectNames are the objects of one upload, in upload order; the marker
// comes after all of them.
var objectNames = []string{MediaName, MetadataName, AuditName}

// escapeSegment makes s one safe key segment: path escaping, and dots
// escaped when s is "." or "..", which stores refuse as folder names.
func escapeSegment(s string) string {
	e := url.PathEscape(s)
	if e == "." || e == ".." {
		e = strings.ReplaceAll(e, ".", "%2E")
	}
	return e
}

// layout names the keys of one recording.
type layout struct {
	base string // P R/I/
}

func (c Config) layout(recordingID string) layout {
	return layout{base: c.Prefix + escapeSegment(c.RoomID) + "/" + recordingID + "/"}
}

// primary is the folder of the upload that claimed the recording.
func (l layout) primary() string { return l.base }

// folder is server's own folder, for an upload that is not the claim's.
func (l layout) folder(serverID string) string { return l.base + serverID + "/" }

func (l layout) claim() string { return l.base + ClaimName }

// PrimaryFolder is the folder of recordingID's claimed upload.
func (c Config) PrimaryFolder(recordingID string) string { return c.layout(recordingID).primary() }

// ServerFolder is the folder of serverID's upload of recordingID when the
// claim is another server's.
func (c Config) ServerFolder(recordingID, serverID string) string {
	return c.layout(recordingID).folder(serverID)
}
