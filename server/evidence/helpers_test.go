package evidence

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"twincap/server/evidence/evidencetest"
	"twincap/server/wire"
)

const testBucket = "evidence"

// startStore runs a MinIO with one bucket (with Object Lock if lock).
func startStore(t *testing.T, lock bool) *evidencetest.Server {
	t.Helper()
	s := evidencetest.Start(t)
	s.MakeBucket(t, testBucket, lock)
	return s
}

// faultyAPI sits between the uploader and the real store: it records every
// call and lets a test fail (or cut short) any of them.
type faultyAPI struct {
	objectAPI
	mu    sync.Mutex
	calls []string // "op key" or "op key #part"
	fault func(op, key string, part int) error
	// statHook, when set, changes what stat reports.
	statHook func(*objectInfo)
}

func (f *faultyAPI) call(op, key string, part int) error {
	f.mu.Lock()
	c := op + " " + key
	if part > 0 {
		c += fmt.Sprintf(" #%d", part)
	}
	f.calls = append(f.calls, c)
	fault := f.fault
	f.mu.Unlock()
	if fault != nil {
		return fault(op, key, part)
	}
	return nil
}

// setFault replaces the fault function (nil: none).
func (f *faultyAPI) setFault(fault func(op, key string, part int) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = fault
}

// take returns the calls so far that match op (all when ""), and forgets
// every call so far.
func (f *faultyAPI) take(op string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if op == "" || strings.HasPrefix(c, op+" ") {
			out = append(out, c)
		}
	}
	f.calls = nil
	return out
}

// only keeps the calls of op.
func only(calls []string, op string) []string {
	var out []string
	for _, c := range calls {
		if strings.HasPrefix(c, op+" ") {
			out = append(out, c)
		}
	}
	return out
}

func (f *faultyAPI) bucketExists(ctx context.Context) (bool, error) {
	if err := f.call("bucketExists", "", 0); err != nil {
		return false, err
	}
	return f.objectAPI.bucketExists(ctx)
}

func (f *faultyAPI) stat(ctx context.Context, key string) (objectInfo, error) {
	if err := f.call("stat", key, 0); err != nil {
		return objectInfo{}, err
	}
	info, err := f.objectAPI.stat(ctx, key)
	f.mu.Lock()
	hook := f.statHook
	f.mu.Unlock()
	if err == nil && hook != nil {
		hook(&info)
	}
	return info, err
}

func (f *faultyAPI) open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.call("open", key, 0); err != nil {
		return nil, err
	}
	return f.objectAPI.open(ctx, key)
}

func (f *faultyAPI) put(ctx context.Context, key string, r io.Reader, size int64, o putOptions) error {
	if err := f.call("put", key, 0); err != nil {
		return err
	}
	return f.objectAPI.put(ctx, key, r, size, o)
}

func (f *faultyAPI) newMultipart(ctx context.Context, key string, o putOptions) (string, error) {
	if err := f.call("newMultipart", key, 0); err != nil {
		return "", err
	}
	return f.objectAPI.newMultipart(ctx, key, o)
}

func (f *faultyAPI) putPart(ctx context.Context, key, uploadID string, n int, r io.Reader, size int64, checksum string) (part, error) {
	if err := f.call("putPart", key, n); err != nil {
		return part{}, err
	}
	return f.objectAPI.putPart(ctx, key, uploadID, n, r, size, checksum)
}

func (f *faultyAPI) complete(ctx context.Context, key, uploadID string, parts []part) error {
	if err := f.call("complete", key, 0); err != nil {
		return err
	}
	return f.objectAPI.complete(ctx, key, uploadID, parts)
}

func (f *faultyAPI) folders(ctx context.Context, prefix string) ([]string, error) {
	if err := f.call("folders", prefix, 0); err != nil {
		return nil, err
	}
	return f.objectAPI.folders(ctx, prefix)
}

// newUploader makes an uploader for server (5 MiB parts, room "room-1")
// against s, with a faultyAPI in front of the store.
func newUploader(t *testing.T, s *evidencetest.Server, server string, mod func(*Config)) (*Uploader, *faultyAPI) {
	t.Helper()
	cfg := Config{
		Endpoint: s.Endpoint, Bucket: testBucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		ServerID: server, RoomID: "room-1", Prefix: "twincap/", PartSize: MinPartSize,
	}
	if mod != nil {
		mod(&cfg)
	}
	u, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := &faultyAPI{objectAPI: u.api}
	u.api = f
	return u, f
}

// fixture writes a finalized recording as a room server holds it: media
// of size bytes (seeded), metadata naming server, an audit trail.
func fixture(t testing.TB, dir, id, server string, size int, seed uint64, finalized time.Time) Recording {
	t.Helper()
	dir = filepath.Join(dir, server, id)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	media := make([]byte, size)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(media)
	sum := sha256.Sum256(media)
	meta, err := json.MarshalIndent(wire.Metadata{
		ID: id, RoomID: "room-1", BoxID: "box-1", ServerID: server, Mode: wire.Buffered,
		StartedAt: finalized.Add(-time.Hour), StoppedAt: finalized, FinalizedAt: finalized,
		MediaBytes: int64(size), MediaSHA256: hex.EncodeToString(sum[:]),
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	rec := Recording{ID: id, FinalizedAt: finalized, MediaPath: filepath.Join(dir, MediaName), MetadataPath: filepath.Join(dir, MetadataName),
		Audit: []byte(fmt.Sprintf(`{"recording":%q,"server":%q,"entries":[]}`, id, server))}
	for p, b := range map[string][]byte{rec.MediaPath: media, rec.MetadataPath: meta} {
		if err := os.WriteFile(p, b, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// getObject reads key straight from the store.
func getObject(t *testing.T, s *evidencetest.Server, key string) []byte {
	t.Helper()
	ctx := context.Background()
	o, err := s.Client(t).GetObject(ctx, testBucket, key, minio.GetObjectOptions{})
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

// keys lists every object key in the bucket.
func keys(t *testing.T, s *evidencetest.Server) []string {
	t.Helper()
	var out []string
	for o := range s.Client(t).ListObjects(context.Background(), testBucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		out = append(out, o.Key)
	}
	slices.Sort(out)
	return out
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
