package httpapi

import (
	"net/http"
	"testing"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

// Without an evidence queue (uploading not configured) the status routes
// say so, and the peer route answers from the store: what a recording
// still being recorded holds so far.
func TestEvidenceWithoutQueue(t *testing.T) {
	f := newFixture(t)
	f.create("rec1")
	if code, e := f.put("rec1", 0, []byte("abcd"), segment.Sum([]byte("abcd")).String()); code != 200 {
		t.Fatalf("put: %d %s", code, e.Error)
	}
	var l EvidenceList
	if code := f.do("GET", wire.PathEvidence, f.ticket, nil, &l); code != 200 || l.Configured || l.Uploads == nil || len(l.Uploads) != 0 {
		t.Fatalf("list: %d %+v", code, l)
	}
	if code := f.do("GET", path(wire.PathRecordingEvidence, "id", "rec1"), f.ticket, nil, nil); code != 404 {
		t.Fatalf("one recording: %d", code)
	}
	peer := map[string]string{wire.HeaderAuthorization: wire.PeerScheme + " " + f.auth.PeerToken("b")}
	for _, tc := range []struct {
		name, method, id string
		hdr              map[string]string
		code             int
	}{
		{"recording", "GET", "rec1", peer, 200},
		{"unknown", "GET", "rec2", peer, 404},
		{"ticket instead of peer token", "GET", "rec1", map[string]string{wire.HeaderAuthorization: "Bearer " + f.ticket}, 401},
		{"told of an upload", "POST", "rec1", peer, 204},
		{"told without a token", "POST", "rec1", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := f.req(tc.method, path(wire.PathPeerUpload, "id", tc.id), "", nil, tc.hdr)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.code)
			}
		})
	}
	var p wire.PeerUpload
	resp := f.req("GET", path(wire.PathPeerUpload, "id", "rec1"), "", nil, peer)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	if err := decodeJSON(resp.Body, &p); err != nil || p.Bytes != 4 || !p.Started.IsZero() || !p.Finished.IsZero() {
		t.Fatalf("peer upload %+v, %v", p, err)
	}
}
