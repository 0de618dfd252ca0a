package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/server/wire"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

func newStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := New(Config{Dir: dir, ServerID: "a", RoomID: "room1", Now: func() time.Time { return t0 }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func create(t *testing.T, s *Store, id string) wire.RecordingState {
	t.Helper()
	st, _, err := s.Create(wire.CreateRequest{ID: id, RoomID: "room1", BoxID: "box1", Mode: wire.Buffered, StartedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func seg(seq uint64) []byte {
	return bytes.Repeat([]byte(fmt.Sprintf("seg%d|", seq)), 100+int(seq))
}

func put(t *testing.T, s *Store, id string, seq uint64) wire.SegmentAck {
	t.Helper()
	b := seg(seq)
	ack, err := s.PutSegment(id, seq, segment.Sum(b), b)
	if err != nil {
		t.Fatalf("put %d: %v", seq, err)
	}
	return ack
}

// files lists every file below dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCreateIdempotent(t *testing.T) {
	s := newStore(t, t.TempDir())
	st := create(t, s, "rec1")
	if st.State != wire.StateRecording || st.NextSeq != 0 {
		t.Fatalf("state = %+v", st)
	}
	put(t, s, "rec1", 0)
	put(t, s, "rec1", 1)
	st, created, err := s.Create(wire.CreateRequest{ID: "rec1", BoxID: "box1", Mode: wire.Buffered})
	if err != nil || created {
		t.Fatalf("second create: created=%v err=%v", created, err)
	}
	if st.NextSeq != 2 || st.Segments != 2 {
		t.Fatalf("resumed state = %+v", st)
	}
	for _, tc := range []struct {
		name string
		req  wire.CreateRequest
		want error
	}{
		{"other box", wire.CreateRequest{ID: "rec1", BoxID: "box2", Mode: wire.Buffered}, ErrConflict},
		{"other mode", wire.CreateRequest{ID: "rec1", BoxID: "box1", Mode: wire.Unbuffered}, ErrConflict},
		{"other room", wire.CreateRequest{ID: "rec2", RoomID: "room2", Mode: wire.Buffered}, ErrWrongRoom},
		{"bad mode", wire.CreateRequest{ID: "rec2", Mode: "both"}, ErrInvalid},
		{"bad id", wire.CreateRequest{ID: "../x", Mode: wire.Buffered}, ErrInvalid},
		{"dot dot", wire.CreateRequest{ID: "..", Mode: wire.Buffered}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := s.Create(tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestPutSegment(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	create(t, s, "rec1")
	b := seg(0)
	other := append(slices.Clone(b), 'x')
	for _, tc := range []struct {
		name string
		id   string
		seq  uint64
		sum  segment.Checksum
		body []byte
		want error
		next uint64
	}{
		{"first", "rec1", 0, segment.Sum(b), b, nil, 1},
		{"retry identical", "rec1", 0, segment.Sum(b), b, nil, 1},
		{"conflict", "rec1", 0, segment.Sum(other), other, ErrConflict, 0},
		{"bad checksum", "rec1", 5, segment.Sum(b), other, ErrBadChecksum, 0},
		{"unknown recording", "nope", 0, segment.Sum(b), b, ErrNotFound, 0},
		{"bad id", "a/b", 0, segment.Sum(b), b, ErrInvalid, 0},
		{"seq too big", "rec1", MaxSeq + 1, segment.Sum(b), b, ErrInvalid, 0},
		{"out of order", "rec1", 2, segment.Sum(b), b, nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ack, err := s.PutSegment(tc.id, tc.seq, tc.sum, tc.body)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (ack.Seq != tc.seq || ack.NextSeq != tc.next) {
				t.Fatalf("ack = %+v, want seq %d next %d", ack, tc.seq, tc.next)
			}
		})
	}
	// The conflicting and bad-checksum writes changed nothing.
	got, err := os.ReadFile(filepath.Join(dir, "recordings", "rec1", "segments", segment.Name(0)))
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("segment 0 changed: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "recordings", "rec1", "segments", segment.Name(5))); !os.IsNotExist(err) {
		t.Fatalf("bad-checksum segment written: %v", err)
	}
	want := []string{"recordings/rec1/recording.json", "recordings/rec1/segments/" + segment.Name(0), "recordings/rec1/segments/" + segment.Name(2)}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files = %v, want %v", got, want)
	}
	// Filling the hole moves NextSeq past the out-of-order segment.
	if ack := put(t, s, "rec1", 1); ack.NextSeq != 3 {
		t.Fatalf("next = %d, want 3", ack.NextSeq)
	}
}

func TestGapsAndStopIncomplete(t *testing.T) {
	s := newStore(t, t.TempDir())
	create(t, s, "rec1")
	for _, seq := range []uint64{0, 1, 4, 7} {
		put(t, s, "rec1", seq)
	}
	st, err := s.Stop("rec1", 9, t0)
	if !errors.Is(err, ErrIncomplete) {
		t.Fatalf("stop err = %v", err)
	}
	if want := []uint64{2, 3, 5, 6, 8}; !slices.Equal(st.Missing, want) {
		t.Fatalf("missing = %v, want %v", st.Missing, want)
	}
	if st.State != wire.StateRecording {
		t.Fatalf("state = %s", st.State)
	}
	for _, g := range []wire.Gap{{From: 2, To: 4, Reason: "offline"}, {From: 2, To: 4, Reason: "offline"}} {
		if st, err = s.AddGap("rec1", g); err != nil {
			t.Fatal(err)
		}
	}
	if len(st.Gaps) != 1 || st.NextSeq != 5 {
		t.Fatalf("after gap: %+v", st)
	}
	if _, err := s.AddGap("rec1", wire.Gap{From: 3, To: 3}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty gap err = %v", err)
	}
	st, err = s.Stop("rec1", 9, t0)
	if want := []uint64{5, 6, 8}; !errors.Is(err, ErrIncomplete) || !slices.Equal(st.Missing, want) {
		t.Fatalf("stop = %v %v, want missing %v", err, st.Missing, want)
	}
	// A huge count reports a bounded list instead of looping.
	st, err = s.Stop("rec1", MaxSeq+1, t0)
	if !errors.Is(err, ErrIncomplete) || len(st.Missing) != MaxMissing {
		t.Fatalf("huge stop: %v, %d missing", err, len(st.Missing))
	}
}

func TestStopFinalizes(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	create(t, s, "rec1")
	var want []byte
	for seq := uint64(0); seq < 6; seq++ {
		if seq == 3 {
			continue
		}
		put(t, s, "rec1", seq)
		want = append(want, seg(seq)...)
	}
	put(t, s, "rec1", 9) // beyond count: not part of the media
	if _, err := s.AddGap("rec1", wire.Gap{From: 3, To: 4, Reason: "server away"}); err != nil {
		t.Fatal(err)
	}
	stopped := t0.Add(time.Minute)
	st, err := s.Stop("rec1", 6, stopped)
	if err != nil {
		t.Fatal(err)
	}
	if st.State != wire.StateFinalized {
		t.Fatalf("state = %s", st.State)
	}
	f, err := s.OpenMedia("rec1")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, want) {
		t.Fatalf("media is %d bytes, want %d (byte-exact concatenation)", len(got), len(want))
	}
	m, err := s.Metadata("rec1")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(want)
	if m.MediaSHA256 != hex.EncodeToString(sum[:]) || m.MediaBytes != int64(len(want)) {
		t.Fatalf("metadata media = %s %d", m.MediaSHA256, m.MediaBytes)
	}
	if m.ID != "rec1" || m.RoomID != "room1" || m.BoxID != "box1" || m.ServerID != "a" || !m.StoppedAt.Equal(stopped) || len(m.Gaps) != 1 {
		t.Fatalf("metadata = %+v", m)
	}
	var seqs []uint64
	for _, sm := range m.Segments {
		seqs = append(seqs, sm.Seq)
		b := seg(sm.Seq)
		if sm.Size != int64(len(b)) || sm.Checksum != segment.Sum(b).String() {
			t.Errorf("segment %d meta = %+v", sm.Seq, sm)
		}
	}
	if !slices.Equal(seqs, []uint64{0, 1, 2, 4, 5}) {
		t.Fatalf("metadata seqs = %v", seqs)
	}
	// Idempotent, and closed to further writes.
	if st2, err := s.Stop("rec1", 6, stopped); err != nil || st2.State != wire.StateFinalized {
		t.Fatalf("second stop: %v", err)
	}
	if _, err := s.Stop("rec1", 7, stopped); !errors.Is(err, ErrConflict) {
		t.Fatalf("stop other count: %v", err)
	}
	b := seg(6)
	if _, err := s.PutSegment("rec1", 6, segment.Sum(b), b); !errors.Is(err, ErrFinalized) {
		t.Fatalf("put after stop: %v", err)
	}
	if _, err := s.AddGap("rec1", wire.Gap{From: 6, To: 7}); !errors.Is(err, ErrFinalized) {
		t.Fatalf("gap after stop: %v", err)
	}
	if err := s.Delete("rec1"); !errors.Is(err, ErrFinalized) {
		t.Fatalf("delete after stop: %v", err)
	}
	// Create of a finalized recording answers its finalized state.
	st, _, err = s.Create(wire.CreateRequest{ID: "rec1", BoxID: "box1", Mode: wire.Buffered})
	if err != nil || st.State != wire.StateFinalized {
		t.Fatalf("create finalized: %+v %v", st, err)
	}
	// And it all survives a restart.
	s2 := newStore(t, dir)
	if st, err := s2.Get("rec1"); err != nil || st.State != wire.StateFinalized {
		t.Fatalf("after restart: %+v %v", st, err)
	}
	if m2, err := s2.Metadata("rec1"); err != nil || m2.MediaSHA256 != m.MediaSHA256 {
		t.Fatalf("metadata after restart: %v", err)
	}
}

func TestStopNotFinalYet(t *testing.T) {
	s := newStore(t, t.TempDir())
	create(t, s, "rec1")
	if _, err := s.OpenMedia("rec1"); !errors.Is(err, ErrNotFinal) {
		t.Fatalf("media before stop: %v", err)
	}
	if _, err := s.Stop("rec1", 0, t0); !errors.Is(err, ErrInvalid) {
		t.Fatalf("stop 0: %v", err)
	}
	if _, err := s.Stop("nope", 1, t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("stop unknown: %v", err)
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	create(t, s, "rec1")
	put(t, s, "rec1", 0)
	put(t, s, "rec1", 1)
	if err := s.Delete("rec1"); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Fatalf("left behind: %v", got)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "recordings"))
	if len(ents) != 0 {
		t.Fatalf("folders left: %v", ents)
	}
	if _, err := s.Get("rec1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete("rec1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// The same ID can start afresh.
	if st := create(t, s, "rec1"); st.NextSeq != 0 || st.Segments != 0 {
		t.Fatalf("recreated = %+v", st)
	}
}

func TestRestartFromDisk(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	create(t, s, "rec1")
	create(t, s, "rec2")
	for _, seq := range []uint64{0, 1, 2, 5} {
		put(t, s, "rec1", seq)
	}
	if _, err := s.AddGap("rec1", wire.Gap{From: 3, To: 5}); err != nil {
		t.Fatal(err)
	}
	// Leftovers of a crash: temporary files, a half-created recording, a
	// half-removed cancel.
	recs := filepath.Join(dir, "recordings")
	for _, p := range []string{
		filepath.Join(recs, "rec1", "segments", ".tmp-0000000006.m4s-abcd"),
		filepath.Join(recs, "rec1", ".tmp-recording.json-1234"),
		filepath.Join(recs, ".deleted-rec9-x", "segments", segment.Name(0)),
		filepath.Join(recs, "rec3", "segments", segment.Name(0)),
		filepath.Join(recs, "rec4", "segments", ".tmp-x"),
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("junk"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	s2 := newStore(t, dir)
	st, err := s2.Get("rec1")
	if err != nil {
		t.Fatal(err)
	}
	if st.NextSeq != 6 || st.Segments != 4 || len(st.Gaps) != 1 || st.Mode != wire.Buffered || !st.StartedAt.Equal(t0) {
		t.Fatalf("rebuilt state = %+v", st)
	}
	var ids []string
	for _, r := range s2.List() {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"rec1", "rec2"}) {
		t.Fatalf("list = %v", ids)
	}
	want := []string{
		"recordings/rec1/recording.json",
		"recordings/rec1/segments/" + segment.Name(0),
		"recordings/rec1/segments/" + segment.Name(1),
		"recordings/rec1/segments/" + segment.Name(2),
		"recordings/rec1/segments/" + segment.Name(5),
		"recordings/rec2/recording.json",
		"recordings/rec3/segments/" + segment.Name(0), // kept for a human, not served
	}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files after restart = %v\nwant %v", got, want)
	}
	if _, _, err := s2.Create(wire.CreateRequest{ID: "rec3", Mode: wire.Buffered}); !errors.Is(err, ErrConflict) {
		t.Fatalf("create over damaged folder: %v", err)
	}
	// Retried segment after restart is still idempotent.
	put(t, s2, "rec1", 2)
}

func TestConcurrentSameRecording(t *testing.T) {
	s := newStore(t, t.TempDir())
	create(t, s, "rec1")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := uint64(0); seq < 16; seq++ {
				b := seg(seq)
				if _, err := s.PutSegment("rec1", seq, segment.Sum(b), b); err != nil {
					errs <- err
				}
			}
			if _, _, err := s.Create(wire.CreateRequest{ID: "rec1", BoxID: "box1", Mode: wire.Buffered}); err != nil {
				errs <- err
			}
			_ = s.List()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if st, _ := s.Get("rec1"); st.NextSeq != 16 || st.Segments != 16 {
		t.Fatalf("state = %+v", st)
	}
}

func TestConcurrentCreateDelete(t *testing.T) {
	s := newStore(t, t.TempDir())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				_, _, _ = s.Create(wire.CreateRequest{ID: "rec1", BoxID: "box1", Mode: wire.Buffered})
				b := seg(0)
				_, _ = s.PutSegment("rec1", 0, segment.Sum(b), b)
				_ = s.Delete("rec1")
			}
		}()
	}
	wg.Wait()
	// Whatever interleaving happened, memory and disk agree after a restart.
	before := s.List()
	s2 := newStore(t, s.cfg.Dir)
	after := s2.List()
	if len(before) != len(after) {
		t.Fatalf("memory %v vs disk %v", before, after)
	}
}

// Segments are written without the recording's lock; a race on one seq
// must still end with one set of bytes held and the other refused.
func TestConcurrentPutsOfOneSeq(t *testing.T) {
	for round := range 20 {
		s := newStore(t, t.TempDir())
		create(t, s, "rec1")
		bodies := [][]byte{seg(0), append(seg(0), 'x')}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, b := range bodies {
			wg.Go(func() { _, errs[i] = s.PutSegment("rec1", 0, segment.Sum(b), b) })
		}
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil && won < 0:
				won = i
			case errors.Is(err, ErrConflict):
			default:
				t.Fatalf("round %d: put %d: %v (other: %v)", round, i, err, errs[1-i])
			}
		}
		if won < 0 {
			t.Fatalf("round %d: both puts refused", round)
		}
		have, err := os.ReadFile(filepath.Join(s.root, "rec1", segmentsDir, segment.Name(0)))
		if err != nil || !bytes.Equal(have, bodies[won]) {
			t.Fatalf("round %d: disk holds %d bytes (%v), want the winner's %d", round, len(have), err, len(bodies[won]))
		}
	}
}

// Stop and Delete wait for segment writes under way, so a finalized
// recording holds exactly what was acknowledged and a cancelled one leaves
// nothing on disk.
func TestStopAndDeleteWaitForWrites(t *testing.T) {
	s := newStore(t, t.TempDir())
	const n = 24
	for _, op := range []string{"stop", "delete"} {
		id := "rec-" + op
		create(t, s, id)
		var next atomic.Uint64
		var acked atomic.Int64
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for seq := next.Add(1) - 1; seq < n; seq = next.Add(1) - 1 {
					b := seg(seq)
					if _, err := s.PutSegment(id, seq, segment.Sum(b), b); err == nil {
						acked.Add(1)
					}
				}
			})
		}
		var err error
		if op == "stop" {
			for {
				if _, err = s.Stop(id, n, t0); !errors.Is(err, ErrIncomplete) {
					break
				}
			}
		} else {
			time.Sleep(time.Millisecond)
			err = s.Delete(id)
		}
		wg.Wait()
		if err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if op == "stop" {
			m, err := s.Metadata(id)
			if err != nil || len(m.Segments) != n || acked.Load() != n {
				t.Fatalf("finalized with %d segments (%v), %d acked; want %d", len(m.Segments), err, acked.Load(), n)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join(s.root, id)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("after delete the folder is still there: %v", err)
		}
		if got := newStore(t, s.cfg.Dir).List(); len(got) != 1 || got[0].ID != "rec-stop" {
			// The recording of the stop round is finalized and stays; nothing else.
			t.Fatalf("after restart: %+v", got)
		}
	}
}

// A box that restarted mid-interview sends its outages with every create;
// the server keeps each once and puts them in the metadata.
func TestOutagesKeptOnceAndInMetadata(t *testing.T) {
	s := newStore(t, t.TempDir())
	o1 := wire.Outage{Seq: 2, From: t0.Add(2 * time.Second), To: t0.Add(9 * time.Second), Reason: "box restarted"}
	o2 := wire.Outage{Seq: 4, From: t0.Add(11 * time.Second), To: t0.Add(20 * time.Second), Reason: "power cut"}
	req := wire.CreateRequest{ID: "rec1", RoomID: "room1", BoxID: "box1", Mode: wire.Buffered, StartedAt: t0}
	if _, _, err := s.Create(req); err != nil {
		t.Fatal(err)
	}
	for _, add := range [][]wire.Outage{{o1}, {o1}, {o2, o1}} {
		req.Outages = add
		if _, _, err := s.Create(req); err != nil {
			t.Fatal(err)
		}
	}
	for seq := uint64(0); seq < 5; seq++ {
		put(t, s, "rec1", seq)
	}
	// What the server keeps survives its own restart.
	s = newStore(t, s.cfg.Dir)
	if _, err := s.Stop("rec1", 5, t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	m, err := s.Metadata("rec1")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Outages) != 2 || m.Outages[0].Seq != 2 || m.Outages[1].Seq != 4 || !m.Outages[1].To.Equal(o2.To) {
		t.Fatalf("metadata outages %+v, want %v then %v", m.Outages, o1, o2)
	}
	for _, bad := range []wire.Outage{
		{Seq: 0, From: t0, To: t0},
		{Seq: 3, From: t0.Add(time.Second), To: t0},
		{Seq: 3, To: t0},
		{Seq: 3, From: t0, To: t0, Reason: strings.Repeat("x", 257)},
	} {
		req := wire.CreateRequest{ID: "rec2", Mode: wire.Buffered, Outages: []wire.Outage{bad}}
		if _, _, err := s.Create(req); !errors.Is(err, ErrInvalid) {
			t.Errorf("outage %+v: err %v, want ErrInvalid", bad, err)
		}
	}
}

func TestAuditFile(t *testing.T) {
	dir := t.TempDir()
	s := newStore(t, dir)
	create(t, s, "rec1")
	put(t, s, "rec1", 0)
	if err := s.WriteAudit("rec1", []byte("{}")); !errors.Is(err, ErrNotFinal) {
		t.Fatalf("WriteAudit before Stop: %v", err)
	}
	if _, err := s.Files("rec1"); !errors.Is(err, ErrNotFinal) {
		t.Fatalf("Files before Stop: %v", err)
	}
	if _, err := s.Stop("rec1", 1, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.OpenAudit("rec1"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("OpenAudit before WriteAudit: %v", err)
	}
	if err := s.WriteAudit("rec1", []byte(`{"x":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAudit("nope", []byte("{}")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("WriteAudit of an unknown recording: %v", err)
	}
	// It survives a restart and is where Files says.
	s = newStore(t, dir)
	f, err := s.OpenAudit("rec1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	fl, err := s.Files("rec1")
	if err != nil {
		t.Fatal(err)
	}
	onDisk, _ := os.ReadFile(fl.Audit)
	if string(b) != `{"x":1}` || string(onDisk) != string(b) {
		t.Fatalf("audit %q, on disk at %s %q", b, fl.Audit, onDisk)
	}
	for _, p := range []string{fl.Media, fl.Metadata} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("Files: %v", err)
		}
	}
}
