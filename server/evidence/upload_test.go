package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// TestUpload sends a recording in one put per object and in parts, and
// checks what the store then holds, object by object.
func TestUpload(t *testing.T) {
	s := startStore(t, false)
	for _, tc := range []struct {
		name  string
		size  int
		parts int
	}{
		{"single put", 64 << 10, 1},
		{"exactly one part", int(MinPartSize), 1},
		{"multipart", int(2*MinPartSize) + 12345, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ctxT(t)
			u, f := newUploader(t, s, "srv-a", nil)
			id := "rec-" + strings.ReplaceAll(tc.name, " ", "-")
			rec := fixture(t, t.TempDir(), id, "srv-a", tc.size, 1, t0)
			m, err := u.Upload(ctx, rec, "test")
			if err != nil {
				t.Fatal(err)
			}
			base := "twincap/room-1/" + id + "/"
			if m.Folder != base || m.ServerID != "srv-a" || m.Supersedes != "" || len(m.Objects) != 3 || m.MediaBytes() != int64(tc.size) {
				t.Fatalf("marker %+v", m)
			}
			calls := f.take("")
			puts, parts := only(calls, "put"), len(only(calls, "putPart"))
			if tc.parts > 1 {
				if parts != tc.parts {
					t.Fatalf("%d parts sent; want %d", parts, tc.parts)
				}
			} else if parts != 0 {
				t.Fatalf("%d parts sent for a single put", parts)
			}
			// The marker is written last.
			if last := puts[len(puts)-1]; last != "put "+base+MarkerName {
				t.Fatalf("last put %q; want the marker (puts %v)", last, puts)
			}
			files := map[string][]byte{MediaName: readFile(t, rec.MediaPath), MetadataName: readFile(t, rec.MetadataPath), AuditName: rec.Audit}
			for name, want := range files {
				o, _ := m.Object(name)
				if o.Key != base+name || !bytes.Equal(getObject(t, s, o.Key), want) {
					t.Fatalf("%s: key %s, or content differs", name, o.Key)
				}
				info, err := u.api.stat(ctx, o.Key)
				if err != nil {
					t.Fatal(err)
				}
				if info.SHA256 != o.SHA256 || info.Checksum != o.StoreChecksum || info.Size != o.Size {
					t.Fatalf("%s: store says %+v; marker %+v", name, info, o)
				}
			}
			media, _ := m.Object(MediaName)
			if media.Parts != tc.parts || strings.HasSuffix(media.StoreChecksum, "-3") != (tc.parts == 3) {
				t.Fatalf("media: %d parts, store checksum %s; want %d parts", media.Parts, media.StoreChecksum, tc.parts)
			}
			var stored Marker
			if err := json.Unmarshal(getObject(t, s, base+MarkerName), &stored); err != nil || !stored.sameUpload(m) {
				t.Fatalf("stored marker %+v (%v); want %+v", stored, err, m)
			}
			found, err := u.Find(ctx, id)
			if err != nil || found.Claim == nil || found.Claim.ServerID != "srv-a" || len(found.Markers) != 1 {
				t.Fatalf("Find = %+v, %v", found, err)
			}
		})
	}
}

// TestUploadTwice: running an upload again, after it completed or after
// it stopped short of the marker, writes nothing twice.
func TestUploadTwice(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	u, f := newUploader(t, s, "srv-a", nil)
	rec := fixture(t, t.TempDir(), "rec-1", "srv-a", int(MinPartSize)+1, 1, t0)
	first, err := u.Upload(ctx, rec, "first")
	if err != nil {
		t.Fatal(err)
	}
	f.take("")
	again, err := u.Upload(ctx, rec, "again")
	if err != nil {
		t.Fatal(err)
	}
	if !again.CompletedAt.Equal(first.CompletedAt) || !again.sameUpload(first) {
		t.Fatalf("second upload returned %+v; want the first marker %+v", again, first)
	}
	for _, c := range f.take("") {
		if strings.HasPrefix(c, "put") || strings.HasPrefix(c, "complete") || strings.HasPrefix(c, "newMultipart") {
			t.Fatalf("second upload wrote: %s", c)
		}
	}
	// The same server's restarted process, with the marker lost (a crash
	// between the last object and the marker): only the marker is written.
	if err := s.Client(t).RemoveObject(ctx, testBucket, first.Folder+MarkerName, minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	found, err := u.Find(ctx, rec.ID)
	if err != nil || len(found.Markers) != 0 {
		t.Fatalf("objects without a marker taken for an upload: %+v, %v", found, err)
	}
	u2, f2 := newUploader(t, s, "srv-a", nil)
	m, err := u2.Upload(ctx, rec, "after crash")
	if err != nil {
		t.Fatal(err)
	}
	if got := f2.take("put"); len(got) != 1 || got[0] != "put "+first.Folder+MarkerName {
		t.Fatalf("puts after the crash %v; want only the marker", got)
	}
	if !m.sameUpload(first) {
		t.Fatalf("marker %+v; want the same objects as %+v", m, first)
	}
}

// TestConflict: other bytes under a key this upload needs are never
// overwritten, and the upload stops with ErrConflict.
func TestConflict(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	dir := t.TempDir()
	u, _ := newUploader(t, s, "srv-a", nil)
	rec := fixture(t, dir, "rec-1", "srv-a", 1000, 1, t0)
	m, err := u.Upload(ctx, rec, "")
	if err != nil {
		t.Fatal(err)
	}
	// The same server, the same recording ID, other media.
	other := fixture(t, t.TempDir(), "rec-1", "srv-a", 1000, 2, t0)
	if _, err := u.Upload(ctx, other, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("upload of other bytes under the same keys: %v; want ErrConflict", err)
	}
	media, _ := m.Object(MediaName)
	if !bytes.Equal(getObject(t, s, media.Key), readFile(t, rec.MediaPath)) {
		t.Fatal("media was overwritten")
	}

	// An object in the way with no marker (not ours, or damaged): conflict too.
	rec2 := fixture(t, dir, "rec-2", "srv-a", 1000, 3, t0)
	key := u.cfg.PrimaryFolder("rec-2") + MetadataName
	if _, err := s.Client(t).PutObject(ctx, testBucket, key, strings.NewReader("{}"), 2, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	_, err = u.Upload(ctx, rec2, "")
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), key) {
		t.Fatalf("upload over a foreign object: %v; want ErrConflict naming %s", err, key)
	}
	if got := string(getObject(t, s, key)); got != "{}" {
		t.Fatalf("foreign object overwritten: %q", got)
	}
	found, err := u.Find(ctx, "rec-2")
	if err != nil || len(found.Markers) != 0 {
		t.Fatalf("a conflicting upload left a marker: %+v, %v", found, err)
	}

	// Something else where the claim belongs: a conflict for the uploader
	// and for the queue, which stops and waits for a person.
	rec4 := fixture(t, dir, "rec-4", "srv-a", 1000, 5, t0)
	claimKey := u.cfg.layout("rec-4").claim()
	if _, err := s.Client(t).PutObject(ctx, testBucket, claimKey, strings.NewReader("not json"), 8, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Upload(ctx, rec4, ""); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), claimKey) {
		t.Fatalf("upload with a foreign claim: %v; want ErrConflict naming %s", err, claimKey)
	}
	q := newQueue(t, t.TempDir(), u, nil, nil)
	if err := q.Add(rec4); err != nil {
		t.Fatal(err)
	}
	step(t, ctx, q)
	if st := status(t, q, "rec-4"); st.State != Conflict || !strings.Contains(st.LastError, claimKey) || st.Attempts != 0 {
		t.Fatalf("queue: %s after %d attempts (%s); want conflict at once", st.State, st.Attempts, st.LastError)
	}

	// Files that disagree with each other are not uploaded at all.
	rec3 := fixture(t, dir, "rec-3", "srv-a", 1000, 4, t0)
	rec3.MediaPath = rec.MediaPath
	if _, err := u.Upload(ctx, rec3, ""); !errors.Is(err, ErrMismatch) {
		t.Fatalf("media of another recording: %v; want ErrMismatch", err)
	}
}

// TestResumeMultipart cuts an upload short in the middle of the media (as
// a kill would) and runs it again: the partial upload is not taken for a
// whole one, and the parts already stored are not sent again.
func TestResumeMultipart(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	// One part at a time, so that the kill at part 3 leaves parts 1 and 2
	// stored and 4 unsent.
	u, f := newUploader(t, s, "srv-a", func(c *Config) { c.PartsInFlight = 1 })
	rec := fixture(t, t.TempDir(), "rec-1", "srv-a", int(3*MinPartSize)+7, 1, t0)
	mediaKey := u.cfg.PrimaryFolder("rec-1") + MediaName

	killed, kill := context.WithCancel(ctx)
	f.setFault(func(op, key string, part int) error {
		if op == "putPart" && part == 3 {
			kill()
			return context.Canceled
		}
		return nil
	})
	if _, err := u.Upload(killed, rec, ""); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed upload: %v", err)
	}
	if got := f.take("putPart"); len(got) != 3 {
		t.Fatalf("parts tried before the kill: %v", got)
	}
	f.setFault(nil)

	found, err := u.Find(ctx, rec.ID)
	if err != nil || len(found.Markers) != 0 || found.Claim == nil {
		t.Fatalf("after the kill Find = %+v, %v; want a claim and no marker", found, err)
	}
	if _, err := u.api.stat(ctx, mediaKey); !errors.Is(err, errNoObject) {
		t.Fatalf("half-sent media visible as an object: %v", err)
	}

	// A new process (new uploader) finishes the job.
	u2, f2 := newUploader(t, s, "srv-a", nil)
	m, err := u2.Upload(ctx, rec, "resumed")
	if err != nil {
		t.Fatal(err)
	}
	got := f2.take("putPart")
	slices.Sort(got) // sent side by side: any order
	if len(got) != 2 || !strings.HasSuffix(got[0], "#3") || !strings.HasSuffix(got[1], "#4") {
		t.Fatalf("parts sent on resume: %v; want #3 and #4 only", got)
	}
	if !bytes.Equal(getObject(t, s, mediaKey), readFile(t, rec.MediaPath)) {
		t.Fatal("resumed media differs")
	}
	if media, _ := m.Object(MediaName); media.Parts != 4 {
		t.Fatalf("media parts %d; want 4", media.Parts)
	}
	if ids, err := u2.api.uploads(ctx, mediaKey); err != nil || len(ids) != 0 {
		t.Fatalf("multipart uploads left: %v, %v", ids, err)
	}
}

// TestObjectLock: with retention configured, every object is written in
// compliance mode; the store then refuses to delete it or to replace it.
func TestObjectLock(t *testing.T) {
	s := startStore(t, true)
	ctx := ctxT(t)
	u, _ := newUploader(t, s, "srv-a", func(c *Config) { c.RetentionDays = 1 })
	if err := u.Check(ctx); err != nil {
		t.Fatal(err)
	}
	rec := fixture(t, t.TempDir(), "rec-1", "srv-a", int(MinPartSize)+1, 1, t0)
	before := time.Now()
	m, err := u.Upload(ctx, rec, "")
	if err != nil {
		t.Fatal(err)
	}
	c := s.Client(t)
	keys := []string{u.cfg.layout(rec.ID).claim(), m.Folder + MarkerName}
	for _, o := range m.Objects {
		keys = append(keys, o.Key)
	}
	for _, key := range keys {
		info, err := u.api.stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		day := before.Add(24 * time.Hour)
		if info.LockMode != "COMPLIANCE" || info.RetainUntil.Before(day.Add(-2*time.Second)) || info.RetainUntil.After(day.Add(time.Minute)) {
			t.Fatalf("%s: lock %q until %v; want COMPLIANCE until about %v", key, info.LockMode, info.RetainUntil, day)
		}
		err = c.RemoveObject(ctx, testBucket, key, minio.RemoveObjectOptions{VersionID: info.VersionID})
		if err == nil || !strings.Contains(err.Error(), "WORM protected") {
			t.Fatalf("delete %s: %v; want refused as WORM protected", key, err)
		}
		var po minio.PutObjectOptions
		po.SetMatchETagExcept("*")
		if _, err := c.PutObject(ctx, testBucket, key, strings.NewReader("x"), 1, po); minio.ToErrorResponse(err).Code != "PreconditionFailed" {
			t.Fatalf("conditional overwrite of %s: %v; want PreconditionFailed", key, err)
		}
	}
	media, _ := m.Object(MediaName)
	if !bytes.Equal(getObject(t, s, media.Key), readFile(t, rec.MediaPath)) {
		t.Fatal("media changed")
	}
	other := fixture(t, t.TempDir(), "rec-1", "srv-a", 1000, 2, t0)
	if _, err := u.Upload(ctx, other, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("upload of other bytes: %v; want ErrConflict", err)
	}

	// Retention asked for, but the bucket has no Object Lock: Check says so.
	s.MakeBucket(t, "plain", false)
	u2, _ := newUploader(t, s, "srv-a", func(c *Config) { c.Bucket, c.RetentionDays = "plain", 1 })
	if err := u2.Check(ctx); !errors.Is(err, ErrBucket) || !strings.Contains(err.Error(), "Object Lock") {
		t.Fatalf("Check on a bucket without Object Lock: %v; want ErrBucket", err)
	}
	u3, _ := newUploader(t, s, "srv-a", func(c *Config) { c.Bucket = "missing" })
	if err := u3.Check(ctx); !errors.Is(err, ErrBucket) {
		t.Fatalf("Check on a missing bucket: %v; want ErrBucket", err)
	}
}

// TestTwoServers: the servers of a room never write the same key. The
// first claims the primary folder; a second upload of the same recording
// goes to the other server's own folder and names what it supersedes.
func TestTwoServers(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	dir := t.TempDir()
	ua, _ := newUploader(t, s, "srv-a", nil)
	ub, _ := newUploader(t, s, "srv-b", nil)
	recA := fixture(t, dir, "rec-1", "srv-a", 1000, 1, t0)
	recB := fixture(t, dir, "rec-1", "srv-b", 3000, 1, t0) // b holds more
	ma, err := ua.Upload(ctx, recA, "preferred server")
	if err != nil {
		t.Fatal(err)
	}
	mb, err := ub.Upload(ctx, recB, "second upload")
	if err != nil {
		t.Fatal(err)
	}
	if ma.Folder != "twincap/room-1/rec-1/" || mb.Folder != "twincap/room-1/rec-1/srv-b/" || mb.Supersedes != "srv-a" {
		t.Fatalf("folders %q and %q (supersedes %q)", ma.Folder, mb.Folder, mb.Supersedes)
	}
	found, err := ua.Find(ctx, "rec-1")
	if err != nil || len(found.Markers) != 2 || found.Claim.ServerID != "srv-a" {
		t.Fatalf("Find = %+v, %v", found, err)
	}
	if ev, _ := ChooseEvidence(found.Markers); ev.ServerID != "srv-b" {
		t.Fatalf("evidence from %s; want srv-b, which holds more", ev.ServerID)
	}

	// Both at once, on a fresh recording: one claim, two whole uploads,
	// no key written by both.
	recA2 := fixture(t, dir, "rec-2", "srv-a", int(MinPartSize)+5, 2, t0)
	recB2 := fixture(t, dir, "rec-2", "srv-b", int(MinPartSize)+5, 2, t0)
	var wg sync.WaitGroup
	res := make([]Marker, 2)
	errs := make([]error, 2)
	for i, job := range []struct {
		u   *Uploader
		rec Recording
	}{{ua, recA2}, {ub, recB2}} {
		wg.Go(func() { res[i], errs[i] = job.u.Upload(ctx, job.rec, "race") })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if (res[0].Supersedes == "") == (res[1].Supersedes == "") || res[0].Folder == res[1].Folder {
		t.Fatalf("racing uploads: %q (supersedes %q) and %q (supersedes %q)", res[0].Folder, res[0].Supersedes, res[1].Folder, res[1].Supersedes)
	}
	seen := map[string]string{}
	for _, m := range res {
		for _, o := range m.Objects {
			if other, ok := seen[o.Key]; ok {
				t.Fatalf("%s written by %s and %s", o.Key, other, m.ServerID)
			}
			seen[o.Key] = m.ServerID
		}
	}
}

// TestVerify: a store that reports no checksum has the object read back;
// one that reports other bytes than were sent fails the upload.
func TestVerify(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	dir := t.TempDir()
	u, f := newUploader(t, s, "srv-a", nil)
	f.statHook = func(i *objectInfo) { i.Checksum = "" }
	if _, err := u.Upload(ctx, fixture(t, dir, "rec-1", "srv-a", int(MinPartSize)+1, 1, t0), ""); err != nil {
		t.Fatal(err)
	}
	if got := only(f.take(""), "open"); len(got) < 3 {
		t.Fatalf("objects read back: %v; want each of the three", got)
	}
	for _, tc := range []struct {
		name string
		hook func(*objectInfo)
		want string
	}{
		{"store checksum", func(i *objectInfo) { i.Checksum = "AAAA" }, "store checksum AAAA"},
		{"size", func(i *objectInfo) { i.Size++ }, "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, f := newUploader(t, s, "srv-a", func(c *Config) { c.Prefix = "verify-" + strings.ReplaceAll(tc.name, " ", "-") + "/" })
			f.statHook = tc.hook
			_, err := u.Upload(ctx, fixture(t, dir, "rec-2", "srv-a", 1000, 2, t0), "")
			if !errors.Is(err, ErrVerify) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Upload = %v; want ErrVerify mentioning %q", err, tc.want)
			}
		})
	}
}

// TestConditionalComplete: the store refuses to complete a multipart
// upload over an existing key (If-None-Match: *), as the uploader relies on.
func TestConditionalComplete(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	u, _ := newUploader(t, s, "srv-a", nil)
	key := "taken"
	if _, err := s.Client(t).PutObject(ctx, testBucket, key, strings.NewReader("first"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), int(MinPartSize)+1)
	d, err := digestOf(bytes.NewReader(body), int64(len(body)), MinPartSize)
	if err != nil {
		t.Fatal(err)
	}
	src := source{name: MediaName, r: bytes.NewReader(body), size: int64(len(body)), d: d}
	err = u.multipart(ctx, key, src)
	if !errors.Is(err, errExists) {
		t.Fatalf("multipart over an existing key: %v; want errExists", err)
	}
	if got := string(getObject(t, s, key)); got != "first" {
		t.Fatalf("existing object replaced: %q", got[:min(len(got), 20)])
	}
	if ids, err := u.api.uploads(ctx, key); err != nil || len(ids) != 0 {
		t.Fatalf("refused upload not aborted: %v, %v", ids, err)
	}
}

// TestStoreChecksParts: a part is sent unsigned (UNSIGNED-PAYLOAD) with its
// SHA-256 in x-amz-checksum-sha256, so the store's own check of that
// checksum is what keeps a damaged part out: it must refuse a part whose
// bytes do not match it.
func TestStoreChecksParts(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	u, _ := newUploader(t, s, "srv-a", nil)
	key := "parts/media.mp4"
	body := bytes.Repeat([]byte("p"), int(MinPartSize))
	id, err := u.api.newMultipart(ctx, key, putOptions{Meta: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer u.api.abort(ctx, key, id)
	wrong := partChecksum(sha256.Sum256(append([]byte("q"), body[1:]...)))
	if _, err := u.api.putPart(ctx, key, id, 1, bytes.NewReader(body), int64(len(body)), wrong); err == nil {
		t.Fatal("the store took a part whose bytes do not match its checksum")
	}
	right := partChecksum(sha256.Sum256(body))
	p, err := u.api.putPart(ctx, key, id, 1, bytes.NewReader(body), int64(len(body)), right)
	if err != nil || p.Checksum != right {
		t.Fatalf("matching part: %+v, %v", p, err)
	}
}

// TestMediaChangedAfterFinalize: a multipart media file is hashed while
// it is sent; one that no longer has the SHA-256 its metadata gives (one
// byte changed, same size) is never completed: no object, no upload left
// under way, no marker.
func TestMediaChangedAfterFinalize(t *testing.T) {
	s := startStore(t, false)
	ctx := ctxT(t)
	u, f := newUploader(t, s, "srv-a", nil)
	rec := fixture(t, t.TempDir(), "rec-1", "srv-a", int(3*MinPartSize)+5, 1, t0)
	media := readFile(t, rec.MediaPath)
	media[len(media)/2] ^= 1
	if err := os.WriteFile(rec.MediaPath, media, 0o640); err != nil {
		t.Fatal(err)
	}
	_, err := u.Upload(ctx, rec, "")
	if !errors.Is(err, ErrMismatch) {
		t.Fatalf("Upload of changed media = %v; want ErrMismatch", err)
	}
	if got := f.take("putPart"); len(got) == 0 {
		t.Fatal("no part was sent: the media was read whole before the upload, not beside it")
	}
	key := u.cfg.PrimaryFolder(rec.ID) + MediaName
	if _, err := u.api.stat(ctx, key); !errors.Is(err, errNoObject) {
		t.Fatalf("changed media stored: %v", err)
	}
	if ids, err := u.api.uploads(ctx, key); err != nil || len(ids) != 0 {
		t.Fatalf("uploads left under way: %v, %v", ids, err)
	}
	if found, err := u.Find(ctx, rec.ID); err != nil || len(found.Markers) != 0 {
		t.Fatalf("Find = %+v, %v; want no marker", found, err)
	}
}
