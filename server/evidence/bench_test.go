package evidence

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"twincap/server/evidence/evidencetest"
)

// benchMediaBytes is the size of the recording the upload benchmark sends:
// about 17 minutes of 720p at 1 Mbit/s, or 4 minutes at 4 Mbit/s.
// TWINCAP_BENCH_UPLOAD_MB changes it.
func benchMediaBytes(b *testing.B) int {
	if v := os.Getenv("TWINCAP_BENCH_UPLOAD_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("TWINCAP_BENCH_UPLOAD_MB=%q: want a positive number of MiB", v)
		}
		return n << 20
	}
	return 128 << 20
}

// BenchmarkUpload measures, against one real MinIO on loopback, an upload
// of a recording through the Uploader (SHA-256 of the whole and of each
// part, multipart with per-part checksums that the store checks, a claim, a
// stat to verify every object, the marker) side by side with a plain
// minio-go PutObject of the same files to the same store. Each
// iteration does both, in turns first, so that a busy machine slows both
// alike; it reports ours-MB/s, plain-MB/s and the median of the
// iterations' ours/plain, which scripts/bench prints (target: at least
// 0.9). Each iteration writes under new keys; the objects are removed
// outside the timings.
func BenchmarkUpload(b *testing.B) {
	size := benchMediaBytes(b)
	s := evidencetest.Start(b)
	s.MakeBucket(b, testBucket, false)
	dir := b.TempDir()
	// One recording on disk; each iteration uploads it under a new ID, with
	// metadata naming that ID beside the shared media.
	rec := fixture(b, dir, "bench", "srv-a", size, 7, t0)
	client := s.Client(b)
	ctx := context.Background()
	u, err := New(Config{
		Endpoint: s.Endpoint, Bucket: testBucket, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		ServerID: "srv-a", RoomID: "room-1", Prefix: "bench/",
	})
	if err != nil {
		b.Fatal(err)
	}
	clean := func(prefix string) {
		objs := client.ListObjects(ctx, testBucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
		for e := range client.RemoveObjects(ctx, testBucket, objs, minio.RemoveObjectsOptions{}) {
			b.Fatalf("remove %s: %v", e.ObjectName, e.Err)
		}
	}
	ours := func(i int) time.Duration {
		id := fmt.Sprintf("rec-%d-%d", time.Now().UnixNano(), i)
		r := rec
		r.ID = id
		r.MetadataPath = filepath.Join(dir, id+".json")
		meta := strings.Replace(string(readFile(b, rec.MetadataPath)), `"id": "bench"`, `"id": "`+id+`"`, 1)
		if err := os.WriteFile(r.MetadataPath, []byte(meta), 0o640); err != nil {
			b.Fatal(err)
		}
		r.Audit = []byte(fmt.Sprintf(`{"recording":%q,"server":"srv-a","entries":[]}`, id))
		start := time.Now()
		m, err := u.Upload(ctx, r, "bench")
		took := time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if m.MediaBytes() != int64(size) {
			b.Fatalf("marker holds %d media bytes; want %d", m.MediaBytes(), size)
		}
		clean("bench/")
		return took
	}
	// The plain copy sends the same three files (media, metadata, audit
	// trail) that ours does; ours adds the claim, the checks and the marker.
	plain := func(i int) time.Duration {
		folder := fmt.Sprintf("plain/%d-%d/", time.Now().UnixNano(), i)
		files := []struct {
			name string
			r    io.ReaderAt
			size int64
		}{{name: MediaName}, {name: MetadataName}, {name: AuditName, r: bytes.NewReader(rec.Audit), size: int64(len(rec.Audit))}}
		for j, p := range []string{rec.MediaPath, rec.MetadataPath} {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				b.Fatal(err)
			}
			files[j].r, files[j].size = f, fi.Size()
		}
		start := time.Now()
		for _, f := range files {
			info, err := client.PutObject(ctx, testBucket, folder+f.name, io.NewSectionReader(f.r, 0, f.size), f.size, minio.PutObjectOptions{})
			if err != nil {
				b.Fatal(err)
			}
			if info.Size != f.size {
				b.Fatalf("plain put of %s stored %d bytes; want %d", f.name, info.Size, f.size)
			}
		}
		took := time.Since(start)
		clean("plain/")
		return took
	}

	var tOurs, tPlain time.Duration
	var ratios []float64 // per iteration: plain's time / ours
	b.ResetTimer()
	for i := range b.N {
		var o, p time.Duration
		if i%2 == 0 {
			o = ours(i)
			p = plain(i)
		} else {
			p = plain(i)
			o = ours(i)
		}
		tOurs, tPlain = tOurs+o, tPlain+p
		ratios = append(ratios, p.Seconds()/o.Seconds())
	}
	mb := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(mb/tOurs.Seconds(), "ours-MB/s")
	b.ReportMetric(mb/tPlain.Seconds(), "plain-MB/s")
	// The median of the pairs: a burst of load from elsewhere during one
	// upload moves one pair, not the figure.
	slices.Sort(ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ours/plain")
}
