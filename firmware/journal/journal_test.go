package journal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/internal/durable"
	"twincap/server/wire"
)

var testMeta = Meta{
	RecordingID: "room1-20261125T100000Z-ab12",
	RoomID:      "room1",
	Mode:        "buffered",
	StartedAt:   time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC),
	State:       StateRecording,
	Epoch:       time.Date(2026, 11, 25, 10, 0, 0, 223456789, time.UTC),
	Outages: []wire.Outage{{Seq: 7, From: time.Date(2026, 11, 25, 10, 0, 7, 0, time.UTC),
		To: time.Date(2026, 11, 25, 10, 0, 19, 0, time.UTC), Reason: "box restarted"}},
}

// seg is segment seq of a test recording, n bytes long.
func seg(seq uint64, n int) segment.Segment {
	return segment.New(seq, time.Duration(seq)*time.Second, time.Second, pattern(seq, n))
}

func create(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := Create(dir, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func open(t *testing.T, dir string) *Journal {
	t.Helper()
	j, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

func appendAll(t *testing.T, j *Journal, segs []segment.Segment) {
	t.Helper()
	for _, s := range segs {
		if err := j.Append(s); err != nil {
			t.Fatal(err)
		}
	}
}

// renumbered is recordCases' segments numbered 0, 1, 2, ...
func renumbered() []segment.Segment {
	var segs []segment.Segment
	for i, c := range recordCases {
		s := c.seg
		s.Seq = uint64(i)
		segs = append(segs, s)
	}
	return segs
}

func checkHolds(t *testing.T, j *Journal, segs []segment.Segment) {
	t.Helper()
	if got := j.Next(); got != uint64(len(segs)) {
		t.Fatalf("Next = %d, want %d", got, len(segs))
	}
	for _, want := range segs {
		got, err := j.Read(want.Seq)
		if err != nil {
			t.Fatal(err)
		}
		sameSegment(t, got, want)
	}
	if _, err := j.Read(uint64(len(segs))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read past the end: %v, want ErrNotFound", err)
	}
}

func TestRoundTripAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	j := create(t, dir)
	if j.Next() != 0 || j.TruncatedBytes() != 0 {
		t.Fatalf("new journal: Next %d, TruncatedBytes %d", j.Next(), j.TruncatedBytes())
	}
	segs := renumbered()
	appendAll(t, j, segs)
	checkHolds(t, j, segs)
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	j = open(t, dir)
	checkHolds(t, j, segs)
	if j.TruncatedBytes() != 0 {
		t.Fatalf("clean reopen cut %d bytes", j.TruncatedBytes())
	}
	sameMeta(t, j.Meta(), testMeta)
	// Appending goes on where it stopped, and survives another reopen.
	more := seg(uint64(len(segs)), 1000)
	if err := j.Append(more); err != nil {
		t.Fatal(err)
	}
	j.Close()
	checkHolds(t, open(t, dir), append(segs, more))
}

func TestAppendRefuses(t *testing.T) {
	j := create(t, t.TempDir())
	if err := j.Append(seg(0, 10)); err != nil {
		t.Fatal(err)
	}
	bad := seg(1, 10)
	bad.Data = append([]byte(nil), bad.Data...)
	bad.Data[0] ^= 1
	for _, c := range []struct {
		name string
		s    segment.Segment
		want error
	}{
		{"repeat", seg(0, 10), ErrOutOfOrder},
		{"gap", seg(2, 10), ErrOutOfOrder},
		{"far behind", seg(0, 0), ErrOutOfOrder},
		{"wrong checksum", bad, segment.ErrBadChecksum},
	} {
		if err := j.Append(c.s); !errors.Is(err, c.want) {
			t.Errorf("%s: Append = %v, want %v", c.name, err, c.want)
		}
	}
	if j.Next() != 1 {
		t.Fatalf("refused appends moved Next to %d", j.Next())
	}
	if err := j.Append(seg(1, 10)); err != nil {
		t.Fatal(err)
	}
}

func TestAcksDurableAndMonotonic(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, []segment.Segment{seg(0, 5), seg(1, 5), seg(2, 5), seg(3, 5)})
	const a, b = "10.0.0.1:0", "10.0.0.2:8443"
	for _, c := range []struct {
		server string
		next   uint64
		ok     bool
		want   uint64
	}{
		{a, 2, true, 2},
		{a, 1, true, 2}, // lower: ignored
		{a, 2, true, 2},
		{b, 4, true, 4},
		{a, 5, false, 2}, // beyond what the journal holds
		{a, 3, true, 3},
		{"", 1, false, 0},
	} {
		err := j.SetAcked(c.server, c.next)
		if (err == nil) != c.ok {
			t.Errorf("SetAcked(%q, %d) = %v, want ok=%v", c.server, c.next, err, c.ok)
		}
		if got := j.Acked(c.server); got != c.want {
			t.Errorf("after SetAcked(%q, %d): Acked = %d, want %d", c.server, c.next, got, c.want)
		}
	}
	j.Close()
	j = open(t, dir)
	if j.Acked(a) != 3 || j.Acked(b) != 4 || j.Acked("other") != 0 {
		t.Fatalf("after reopen: Acked %d %d %d, want 3 4 0", j.Acked(a), j.Acked(b), j.Acked("other"))
	}
	if err := j.SetAcked(a, 1); err != nil || j.Acked(a) != 3 {
		t.Fatalf("lower ack after reopen: %v, Acked %d", err, j.Acked(a))
	}
}

func TestAckLogCompaction(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, []segment.Segment{seg(0, 1), seg(1, 1), seg(2, 1), seg(3, 1)})
	// Long names fill the log quickly, so it is compacted several times.
	want := map[string]uint64{}
	for i := range 120 {
		server := fmt.Sprintf("%04d-%s", i%40, strings.Repeat("s", 1000))
		want[server] = uint64(i/40 + 1)
		if err := j.SetAcked(server, want[server]); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, ackName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > ackCompactAt {
		t.Fatalf("ack log is %d bytes, compaction threshold %d", fi.Size(), ackCompactAt)
	}
	j.Close()
	j = open(t, dir)
	for s, n := range want {
		if got := j.Acked(s); got != n {
			t.Fatalf("Acked(%.8s...) = %d, want %d", s, got, n)
		}
	}
}

func TestAckLogTornTail(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, []segment.Segment{seg(0, 1), seg(1, 1), seg(2, 1)})
	for n := uint64(1); n <= 3; n++ {
		if err := j.SetAcked("s", n); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	full, err := os.ReadFile(filepath.Join(dir, ackName))
	if err != nil {
		t.Fatal(err)
	}
	rec := len(full) / 3
	for cut := range len(full) {
		cdir := copyJournal(t, dir, -1)
		if err := os.WriteFile(filepath.Join(cdir, ackName), full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		j, err := Open(cdir)
		if err != nil {
			t.Fatalf("cut ack log at %d: %v", cut, err)
		}
		if got, want := j.Acked("s"), uint64(cut/rec); got != want {
			t.Fatalf("cut ack log at %d: Acked = %d, want %d", cut, got, want)
		}
		if err := j.SetAcked("s", 3); err != nil {
			t.Fatal(err)
		}
		j.Close()
		if j := open(t, cdir); j.Acked("s") != 3 {
			t.Fatalf("cut ack log at %d: ack after repair lost", cut)
		}
	}
}

func TestMeta(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	stop := testMeta
	stop.State, stop.Count = StateStopping, 42
	if err := j.SetMeta(stop); err != nil {
		t.Fatal(err)
	}
	if err := j.SetMeta(Meta{State: "paused"}); err == nil {
		t.Fatal("SetMeta accepted an unknown state")
	}
	j.Close()
	sameMeta(t, open(t, dir).Meta(), stop)
}

func sameMeta(t *testing.T, got, want Meta) {
	t.Helper()
	if !got.StartedAt.Equal(want.StartedAt) {
		t.Fatalf("StartedAt = %v, want %v", got.StartedAt, want.StartedAt)
	}
	got.StartedAt = want.StartedAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Meta = %+v, want %+v", got, want)
	}
}

func TestCreateRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	create(t, dir)
	if _, err := Create(dir, testMeta); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create = %v, want fs.ErrExist", err)
	}
	if _, err := Create(t.TempDir(), Meta{State: "bogus"}); err == nil {
		t.Fatal("Create accepted an unknown state")
	}
}

func TestOpenCreatesEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	j := open(t, dir)
	if j.Next() != 0 || !reflect.DeepEqual(j.Meta(), Meta{}) {
		t.Fatalf("fresh Open: Next %d, Meta %+v", j.Next(), j.Meta())
	}
	if err := j.Append(seg(0, 3)); err != nil {
		t.Fatal(err)
	}
}

func TestClosed(t *testing.T) {
	j := create(t, t.TempDir())
	appendAll(t, j, []segment.Segment{seg(0, 3)})
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	_, rerr := j.Read(0)
	for name, err := range map[string]error{
		"Append":   j.Append(seg(1, 3)),
		"Read":     rerr,
		"SetAcked": j.SetAcked("s", 1),
		"SetMeta":  j.SetMeta(testMeta),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestListAndRemove(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"b", "a", "c"} {
		create(t, filepath.Join(root, name)).Close()
	}
	os.Mkdir(filepath.Join(root, "not-a-journal"), 0o755)
	os.WriteFile(filepath.Join(root, "file"), nil, 0o644)
	// A removal cut short by a power cut leaves a folder List must skip.
	os.Mkdir(filepath.Join(root, "d"+tombSuffix), 0o755)
	os.WriteFile(filepath.Join(root, "d"+tombSuffix, metaName), nil, 0o644)

	list := func() string {
		dirs, err := List(root)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range dirs {
			if filepath.Dir(d) != root {
				t.Fatalf("List returned %q, not under root", d)
			}
			names = append(names, filepath.Base(d))
		}
		return strings.Join(names, ",")
	}
	if got := list(); got != "a,b,c" {
		t.Fatalf("List = %s, want a,b,c", got)
	}
	if err := Remove(filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	if err := Remove(filepath.Join(root, "b")); err != nil {
		t.Fatalf("removing again: %v", err)
	}
	if err := Remove(filepath.Join(root, "d")); err != nil {
		t.Fatalf("Remove of a half-removed journal: %v", err)
	}
	if ok, _ := exists(filepath.Join(root, "d"+tombSuffix)); ok {
		t.Fatal("Remove left the half-removed folder behind")
	}
	if got := list(); got != "a,c" {
		t.Fatalf("List after Remove = %s, want a,c", got)
	}
	// A folder with foreign files in it is never deleted.
	os.WriteFile(filepath.Join(root, "a", "evidence.mp4"), []byte("x"), 0o644)
	if err := Remove(filepath.Join(root, "a")); err == nil {
		t.Fatal("Remove deleted a folder holding a foreign file")
	}
	if got := list(); got != "a,c" {
		t.Fatalf("List = %s, want a,c", got)
	}
	if dirs, err := List(filepath.Join(root, "missing")); err != nil || dirs != nil {
		t.Fatalf("List of a missing root = %v, %v", dirs, err)
	}
}

// TestConcurrentUse runs one appender against two uplinks that read and
// ack behind it, as the box does; run with -race.
func TestConcurrentUse(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		for i := range uint64(n) {
			if err := j.Append(seg(i, 2000+int(i)*10)); err != nil {
				errs <- err
				return
			}
		}
	})
	for _, server := range []string{"a", "b"} {
		wg.Go(func() {
			for next := uint64(0); next < n; {
				if next >= j.Next() {
					time.Sleep(time.Millisecond)
					continue
				}
				s, err := j.Read(next)
				if err == nil {
					err = s.Verify()
				}
				if err != nil {
					errs <- fmt.Errorf("%s read %d: %w", server, next, err)
					return
				}
				next++
				if err := j.SetAcked(server, next); err != nil {
					errs <- err
					return
				}
				_ = j.Meta()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if j.Acked("a") != n || j.Acked("b") != n {
		t.Fatalf("Acked = %d, %d, want %d", j.Acked("a"), j.Acked("b"), n)
	}
}

// TestReadRacesClose: a Read that loses the race with Close reports
// ErrClosed, never a torn segment.
func TestReadRacesClose(t *testing.T) {
	j := create(t, t.TempDir())
	appendAll(t, j, []segment.Segment{seg(0, 100<<10)})
	done := make(chan error)
	go func() {
		for {
			_, err := j.Read(0)
			if err != nil {
				done <- err
				return
			}
		}
	}()
	time.Sleep(5 * time.Millisecond)
	j.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read racing Close = %v, want ErrClosed", err)
	}
}

func TestRemoveAcceptsLeftoverTempFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "rec")
	j, err := Create(dir, Meta{RecordingID: "rec", State: StateRecording})
	if err != nil {
		t.Fatal(err)
	}
	j.Close()
	// What a power cut in the middle of a durable meta write leaves behind.
	if err := os.WriteFile(filepath.Join(dir, durable.TempPrefix+metaName+"-0123abcd"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir); err != nil {
		t.Fatalf("Remove with a leftover temporary file: %v", err)
	}
	// A file that is not ours still stops Remove.
	dir2 := filepath.Join(t.TempDir(), "rec2")
	j2, err := Create(dir2, Meta{RecordingID: "rec2", State: StateRecording})
	if err != nil {
		t.Fatal(err)
	}
	j2.Close()
	if err := os.WriteFile(filepath.Join(dir2, durable.TempPrefix+"photo.jpg-0123"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Remove(dir2); err == nil {
		t.Fatal("Remove deleted a folder holding a file that is not the journal's")
	}
}
