package journal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"twincap/encoder/segment"
)

// chunkSizes are the payload sizes of the chunks of the segment being cut
// in the edge tests, an empty one among them.
var chunkSizes = []int{700, 0, 1300, 90}

// cutChunks appends segments 0 and 1 to a new journal, then chunks of
// segment 2 (chunkSizes, 200 ms each from 2 s on) to its edge log, and
// closes it as a power cut would leave it: without segment 2. It returns
// the folder and the chunks' bytes.
func cutChunks(t *testing.T) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	j, err := Create(dir, testMeta)
	if err != nil {
		t.Fatal(err)
	}
	appendAll(t, j, []segment.Segment{seg(0, 100), seg(1, 2000)})
	data := pattern(2, 5000)
	var chunks [][]byte
	for i, n := range chunkSizes {
		c := data[:n:n]
		data = data[n:]
		if err := j.AppendChunk(2, i, chunkStart(i), chunkStart(i+1), c); err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, c)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, chunks
}

func chunkStart(i int) time.Duration { return 2*time.Second + time.Duration(i)*200*time.Millisecond }

// wantRecovered checks that j holds segments 0 and 1 and, when n > 0,
// segment 2 made of the first n chunks.
func wantRecovered(t *testing.T, j *Journal, chunks [][]byte, n int) {
	t.Helper()
	if got := j.RecoveredChunks(); got != n {
		t.Fatalf("RecoveredChunks = %d, want %d", got, n)
	}
	want := uint64(2)
	if n > 0 {
		want = 3
	}
	if got := j.Next(); got != want {
		t.Fatalf("Next = %d, want %d", got, want)
	}
	if n == 0 {
		return
	}
	s, err := j.Read(2)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Join(chunks[:n], nil); !bytes.Equal(s.Data, want) {
		t.Fatalf("segment 2 holds %d bytes, want the %d of its first %d chunks", len(s.Data), len(want), n)
	}
	if s.Start != chunkStart(0) || s.Duration != chunkStart(n)-chunkStart(0) {
		t.Fatalf("segment 2 lasts %v from %v, want %v from %v", s.Duration, s.Start, chunkStart(n)-chunkStart(0), chunkStart(0))
	}
}

func edgeSize(t *testing.T, dir string) int64 {
	t.Helper()
	fi, err := os.Stat(filepath.Join(dir, edgeName))
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestEdgeRecoversTheSegmentBeingCut(t *testing.T) {
	dir, chunks := cutChunks(t)
	j := open(t, dir)
	wantRecovered(t, j, chunks, len(chunks))
	if n := edgeSize(t, dir); n != 0 {
		t.Fatalf("the edge log holds %d bytes after recovery, want 0", n)
	}
	// The next Open finds the segment in the log and nothing at the edge.
	j.Close()
	j = open(t, dir)
	if j.RecoveredChunks() != 0 || j.Next() != 3 {
		t.Fatalf("second open: RecoveredChunks %d, Next %d; want 0 and 3", j.RecoveredChunks(), j.Next())
	}
	if err := j.Append(seg(3, 10)); err != nil {
		t.Fatalf("append after the recovered segment: %v", err)
	}
}

// TestEdgeEveryCut cuts the edge log at every length: the recovered
// segment is the chunks that are whole, never a torn one.
func TestEdgeEveryCut(t *testing.T) {
	dir, chunks := cutChunks(t)
	full, err := os.ReadFile(filepath.Join(dir, edgeName))
	if err != nil {
		t.Fatal(err)
	}
	var ends []int
	end := 0
	for _, c := range chunks {
		end += recHeaderSize + len(c)
		ends = append(ends, end)
	}
	for cut := 0; cut <= len(full); cut++ {
		d := copyJournal(t, dir, -1)
		if err := os.WriteFile(filepath.Join(d, edgeName), full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		n := 0
		for n < len(ends) && ends[n] <= cut {
			n++
		}
		j, err := Open(d)
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		wantRecovered(t, j, chunks, n)
		j.Close()
	}
}

func TestEdgeDamage(t *testing.T) {
	dir, chunks := cutChunks(t)
	full, err := os.ReadFile(filepath.Join(dir, edgeName))
	if err != nil {
		t.Fatal(err)
	}
	second := recHeaderSize + len(chunks[0]) // where chunk 1 starts
	for _, c := range []struct {
		name   string
		damage func(b []byte)
		n      int
	}{
		{"a bit flipped in chunk 0's payload", func(b []byte) { b[recHeaderSize+3] ^= 1 }, 0},
		{"a bit flipped in chunk 1's header", func(b []byte) { b[second+20] ^= 1 }, 1},
		{"another journal's nonce", func(b []byte) {
			for off := 0; off < len(b); {
				h, _ := decodeHeader(b[off:])
				le.PutUint64(b[off+8:], h.nonce+1)
				resealHeader(b[off:])
				off += recHeaderSize + int(h.length)
			}
		}, 0},
		{"a segment's record, not a chunk's", func(b []byte) { b[5] = 0; b[6] = 0; resealHeader(b) }, 0},
		{"chunk 1 numbered 2", func(b []byte) { b[second+6] = 2; resealHeader(b[second:]) }, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := copyJournal(t, dir, -1)
			b := bytes.Clone(full)
			c.damage(b)
			if err := os.WriteFile(filepath.Join(d, edgeName), b, 0o644); err != nil {
				t.Fatal(err)
			}
			wantRecovered(t, open(t, d), chunks, c.n)
		})
	}
}

// TestEdgeLeftAlone: the edge log makes no segment when the segment was
// journaled whole, when its run does not start at the journal's next
// segment, or when the interview is no longer recording.
func TestEdgeLeftAlone(t *testing.T) {
	t.Run("journaled whole", func(t *testing.T) {
		dir, chunks := cutChunks(t)
		j := open(t, dir)
		wantRecovered(t, j, chunks, len(chunks))
		// A chunk of a segment the journal holds is not kept.
		if err := j.AppendChunk(2, 0, 0, time.Second, []byte("late")); err != nil {
			t.Fatal(err)
		}
		if n := edgeSize(t, dir); n != 0 {
			t.Fatalf("a chunk of a journaled segment was written (%d bytes)", n)
		}
	})
	t.Run("a later segment", func(t *testing.T) {
		dir := t.TempDir()
		j := create(t, dir)
		appendAll(t, j, []segment.Segment{seg(0, 100)})
		// Segment 1 never reached the log; chunks of segment 2 did.
		if err := j.AppendChunk(2, 0, 0, time.Second, []byte("chunk")); err != nil {
			t.Fatal(err)
		}
		j.Close()
		j = open(t, dir)
		if j.Next() != 1 || j.RecoveredChunks() != 0 {
			t.Fatalf("Next %d, RecoveredChunks %d; want 1 and 0", j.Next(), j.RecoveredChunks())
		}
	})
	t.Run("stopping", func(t *testing.T) {
		dir, _ := cutChunks(t)
		m := testMeta
		m.State, m.Count = StateStopping, 2
		if err := writeMeta(dir, m); err != nil {
			t.Fatal(err)
		}
		j := open(t, dir)
		if j.Next() != 2 || j.RecoveredChunks() != 0 {
			t.Fatalf("Next %d, RecoveredChunks %d; want 2 and 0", j.Next(), j.RecoveredChunks())
		}
		if n := edgeSize(t, dir); n != 0 {
			t.Fatalf("the edge log still holds %d bytes", n)
		}
	})
}

func TestAppendChunkRefuses(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, []segment.Segment{seg(0, 100)})
	if err := j.AppendChunk(1, 1, 0, time.Second, []byte("x")); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("part 1 first: %v, want ErrOutOfOrder", err)
	}
	if err := j.AppendChunk(1, 0, 0, time.Second, []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := j.AppendChunk(1, 2, 0, time.Second, []byte("c")); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("part 2 after part 0: %v, want ErrOutOfOrder", err)
	}
	// The run is dropped until the next part 0.
	if err := j.AppendChunk(1, 1, 0, time.Second, []byte("b")); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("part 1 after a dropped run: %v, want ErrOutOfOrder", err)
	}
	if err := j.AppendChunk(1, -1, 0, time.Second, nil); err == nil {
		t.Fatal("a negative part was taken")
	}
	if err := j.AppendChunk(1, 0, 0, time.Second, []byte("again")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	if err := j.AppendChunk(1, 1, 0, time.Second, []byte("b")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
}

// TestEdgePartZeroStartsOver: a segment cut again from its start (an
// encoder restarted) leaves none of the earlier run's chunks behind, even
// where the new part 0 is exactly as long as the old one.
func TestEdgePartZeroStartsOver(t *testing.T) {
	dir := t.TempDir()
	j := create(t, dir)
	appendAll(t, j, []segment.Segment{seg(0, 100)})
	for i, c := range []string{"old0", "old1", "old2"} {
		if err := j.AppendChunk(1, i, time.Duration(i)*time.Second, time.Duration(i+1)*time.Second, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.AppendChunk(1, 0, 0, time.Second, []byte("new0")); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = open(t, dir)
	s, err := j.Read(1)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Data) != "new0" || s.Duration != time.Second {
		t.Fatalf("segment 1 = %q lasting %v, want \"new0\" lasting 1s", s.Data, s.Duration)
	}
}
