package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"twincap/firmware/box"
	"twincap/server/audit"
	"twincap/server/evidence"
	"twincap/server/evidence/evidencetest"
	"twincap/server/httpapi"
	"twincap/server/wire"
)

const evidenceBucket = "twincap-evidence"

// evidenceRoom is a room whose two servers upload to one real MinIO
// (scripts/minio builds it): the same evidence settings on both, each
// server told its role, the credentials in a file beside the configs.
func evidenceRoom(t *testing.T) (*room, *evidencetest.Server) {
	t.Helper()
	mc := evidencetest.Start(t)
	mc.MakeBucket(t, evidenceBucket, false)
	r := newRoom(t, roomOptions{})
	creds, _ := json.Marshal(map[string]string{"access_key": mc.AccessKey, "secret_key": mc.SecretKey})
	// credentials_dir defaults to the config file's folder.
	if err := os.WriteFile(filepath.Join(r.dir, "evidence-credentials.json"), creds, 0o600); err != nil {
		t.Fatal(err)
	}
	srvBin := filepath.Join(r.bin, "twincap-server")
	pref, red := r.servers[0], r.servers[1]
	for _, s := range r.servers {
		run(t, adminPassword+"\n", srvBin, "useradd", "-config", s.cfg, "-user", adminUser, "-admin")
		// takeover_after is the least the settings accept (1m).
		out := r.settings(s, "patch", fmt.Sprintf(`{"paired":{"role":%q,"preferred":%q,"redundant":%q},`+
			`"evidence":{"endpoint":"http://%s","bucket":%q,"credentials_ref":"evidence-credentials.json","takeover_after":"1m","retry_attempts":3}}`,
			s.name, pref.addr, red.addr, mc.Endpoint, evidenceBucket))
		if !strings.Contains(out, evidenceBucket) {
			t.Fatalf("%s: patch: %s", s.name, out)
		}
	}
	ticket := r.ticket()
	for _, s := range r.servers {
		r.waitFor(s.name+" uploading", 10*time.Second, func() bool {
			var l httpapi.EvidenceList
			r.get(s, ticket, wire.PathEvidence, &l)
			return l.Configured
		})
	}
	return r, mc
}

// objects lists every key under the recording's folder in the bucket.
func objects(t *testing.T, mc *evidencetest.Server, id string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	for o := range mc.Client(t).ListObjects(ctx, evidenceBucket, minio.ListObjectsOptions{Prefix: "room-e2e/" + id + "/", Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

func getObject(t *testing.T, mc *evidencetest.Server, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o, err := mc.Client(t).GetObject(ctx, evidenceBucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	return b
}

// checkUpload checks the one complete upload of id: uploaded by server s,
// in the primary folder, the media byte for byte s's, every object's
// SHA-256 what the marker says; and no other complete upload.
func checkUpload(t *testing.T, r *room, mc *evidencetest.Server, s *server, id string) evidence.Marker {
	t.Helper()
	var markers []string
	for _, k := range objects(t, mc, id) {
		if strings.HasSuffix(k, "/"+evidence.MarkerName) {
			markers = append(markers, k)
		}
	}
	primary := "room-e2e/" + id + "/"
	if len(markers) != 1 || markers[0] != primary+evidence.MarkerName {
		t.Fatalf("complete uploads of %s: %v, want exactly %s", id, markers, primary+evidence.MarkerName)
	}
	var m evidence.Marker
	if err := json.Unmarshal(getObject(t, mc, markers[0]), &m); err != nil {
		t.Fatal(err)
	}
	if m.ServerID != s.name || m.RecordingID != id || m.Folder != primary {
		t.Fatalf("marker %+v: want %s's upload of %s in %s", m, s.name, id, primary)
	}
	media, _ := r.recordingFiles(s, id)
	if got := getObject(t, mc, primary+evidence.MediaName); string(got) != string(media) {
		t.Fatalf("uploaded media.mp4: %d bytes, %s has %d (sha256 %s vs %s)", len(got), s.name, len(media), sum(got), sum(media))
	}
	for _, name := range []string{evidence.MediaName, evidence.MetadataName, evidence.AuditName} {
		o, ok := m.Object(name)
		if !ok {
			t.Fatalf("marker lacks %s: %+v", name, m)
		}
		if b := getObject(t, mc, o.Key); sum(b) != o.SHA256 || int64(len(b)) != o.Size {
			t.Fatalf("%s: %d bytes sha256 %s, marker says %d bytes sha256 %s", o.Key, len(b), sum(b), o.Size, o.SHA256)
		}
	}
	return m
}

func uploadState(r *room, s *server, ticket, id string) evidence.Status {
	r.t.Helper()
	var st evidence.Status
	r.get(s, ticket, strings.Replace(wire.PathRecordingEvidence, "{id}", id, 1), &st)
	return st
}

// serverTicket logs the operator in on s alone.
func serverTicket(r *room, s *server) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := r.client(s, "").Login(ctx, testUser, testPassword)
	if err != nil {
		r.t.Fatal(err)
	}
	return rep.Ticket
}

// uploadAudited says whether s's audit trail holds an upload entry for id
// whose details contain want.
func uploadAudited(r *room, s *server, admin, id, want string) bool {
	var entries []audit.Entry
	r.get(s, admin, wire.PathAuditTrail+"?action=upload&recording="+id, &entries)
	for _, e := range entries {
		if e.Actor == audit.SystemActor && strings.Contains(e.Details, want) {
			return true
		}
	}
	return false
}

// TestEvidenceUpload records an interview on two servers that upload to a
// real MinIO: the preferred server uploads it at once, verified, and the
// redundant one sees the upload stand and sends no second copy.
func TestEvidenceUpload(t *testing.T) {
	t.Parallel()
	r, mc := evidenceRoom(t)
	pref, red := r.servers[0], r.servers[1]
	r.readyAndLoggedIn()
	id := r.interview()
	tp, tr := serverTicket(r, pref), serverTicket(r, red)

	r.waitFor("the preferred server's upload", 15*time.Second, func() bool { return uploadState(r, pref, tp, id).State == evidence.Done })
	r.waitFor("the redundant server to see it covered", 15*time.Second, func() bool { return uploadState(r, red, tr, id).State == evidence.Covered })
	m := checkUpload(t, r, mc, pref, id)
	if st := uploadState(r, red, tr, id); st.Marker == nil || st.Marker.ServerID != pref.name || st.StartedAt != (time.Time{}) {
		t.Fatalf("redundant's state: %+v", st)
	}
	for _, k := range objects(t, mc, id) {
		if strings.Contains(k, "/"+red.name+"/") {
			t.Fatalf("the redundant server wrote %s", k)
		}
	}
	// The entry follows the durable state by a moment.
	ap, ar := r.adminTicket(pref), r.adminTicket(red)
	r.waitFor("the upload in the preferred server's audit trail", 5*time.Second, func() bool {
		return uploadAudited(r, pref, ap, id, "uploaded to the evidence store, folder "+m.Folder)
	})
	r.waitFor("the covered upload in the redundant server's audit trail", 5*time.Second, func() bool {
		return uploadAudited(r, red, ar, id, "the other server's upload stands")
	})
	var l httpapi.EvidenceList
	r.get(red, tr, wire.PathEvidence, &l)
	if len(l.Uploads) != 1 || l.Uploads[0].Recording.ID != id {
		t.Fatalf("redundant's queue: %+v", l)
	}
	out := run(t, adminPassword+"\n", filepath.Join(r.bin, "twincap-server"), "evidence", "-config", pref.cfg, "-user", adminUser, "list")
	if !strings.Contains(out, id) || !strings.Contains(out, "done") {
		t.Fatalf("evidence list on the preferred server:\n%s", out)
	}
}

// TestEvidenceTakeover kills the preferred server during the interview:
// the redundant one finalizes the recording alone, waits takeover_after
// for an upload that does not come, then uploads it itself.
func TestEvidenceTakeover(t *testing.T) {
	t.Parallel()
	r, mc := evidenceRoom(t)
	pref, red := r.servers[0], r.servers[1]
	r.readyAndLoggedIn()
	id := r.action(box.PathStart)
	r.waitFor("a few segments on both servers", 30*time.Second, func() bool { return r.acked("preferred") >= 3 && r.acked("redundant") >= 3 })
	pref.p.kill()
	r.waitFor("preferred offline", 5*time.Second, func() bool { return r.serverState(pref.name) == "offline" })
	r.action(box.PathStop)
	r.waitFinalized(id, red)
	finalized := time.Now()
	tr := serverTicket(r, red)

	if st := uploadState(r, red, tr, id); st.State != evidence.Waiting {
		t.Fatalf("redundant uploads before takeover_after: %+v", st)
	}
	r.waitFor("the redundant server's takeover", 90*time.Second, func() bool { return uploadState(r, red, tr, id).State == evidence.Done })
	if d := time.Since(finalized); d < 55*time.Second {
		t.Errorf("the redundant server uploaded %v after finalizing, before takeover_after (1m)", d)
	}
	st := uploadState(r, red, tr, id)
	if !strings.Contains(st.Reason, "preferred server has not completed") {
		t.Errorf("reason %q", st.Reason)
	}
	checkUpload(t, r, mc, red, id)
	ar := r.adminTicket(red)
	r.waitFor("the upload in the redundant server's audit trail", 5*time.Second, func() bool {
		return uploadAudited(r, red, ar, id, "uploaded to the evidence store")
	})
}
