package uplink

import (
	"strings"
	"testing"
	"time"

	"twincap/encoder/segment"
	"twincap/firmware/buffer"
	"twincap/server/wire"
)

// streamingJob runs an uplink on f with a window and an edge, and waits
// until the server holds the init segment.
func streamingJob(t *testing.T, f *fakeServer, id string) (*Server, *buffer.Window, *buffer.Edge) {
	t.Helper()
	u, ctx := testUplink(t, f)
	_ = u.SetTicket(ctx, "tk")
	waitUntil(t, "online", func() bool { return u.Status().State == Online })
	src, edge := buffer.NewWindow(16), buffer.NewEdge()
	if err := u.Begin(ctx, Job{Create: wire.CreateRequest{ID: id, Mode: wire.Buffered}, Src: src, Edge: edge}); err != nil {
		t.Fatal(err)
	}
	_ = src.Append(seg(0))
	waitUntil(t, "the init segment", func() bool { n, _, _ := f.holds(id); return n == 1 })
	return u, src, edge
}

// At the live edge a segment goes out chunk by chunk as the encoder cuts
// it; the server stores and acknowledges it only after the box holds it
// (appended to its journal or window), with the checksum of what came.
func TestStreamsTheSegmentBeingCut(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, src, edge := streamingJob(t, f, "rec1")
	path := strings.NewReplacer("{id}", "rec1", "{seq}", "1").Replace(wire.PathSegment)

	edge.Add(1, 0, []byte("chunk0-"), false)
	waitUntil(t, "the first chunk at the server", func() bool { got, _ := f.inProgress(path); return got == "chunk0-" })
	edge.Add(1, 1, []byte("chunk1-"), false)
	edge.Add(1, 2, []byte("chunk2"), true)
	waitUntil(t, "every chunk at the server", func() bool { got, _ := f.inProgress(path); return got == "chunk0-chunk1-chunk2" })
	time.Sleep(100 * time.Millisecond)
	if n, _, _ := f.holds("rec1"); n != 1 {
		t.Fatal("the server stored a segment the box has not appended yet")
	}
	if acked := u.Status().Recordings["rec1"].Acked; acked != 1 {
		t.Fatalf("acked %d before the segment was appended", acked)
	}
	_ = src.Append(segment.New(1, time.Second, time.Second, []byte("chunk0-chunk1-chunk2")))
	waitUntil(t, "segment 1 acknowledged", func() bool { return u.Status().Recordings["rec1"].Acked == 2 })
	if _, streamed := f.inProgress(path); !streamed {
		t.Fatal("segment 1 was not streamed")
	}
	f.mu.Lock()
	got := string(f.recs["rec1"].segs[1])
	f.mu.Unlock()
	if got != "chunk0-chunk1-chunk2" {
		t.Fatalf("server holds %q", got)
	}
}

// Chunks that turn out not to be the journaled segment are never
// acknowledged: the stream is given up and the segment goes whole.
func TestStreamThatDiffersGoesWhole(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, src, edge := streamingJob(t, f, "rec1")
	edge.Add(1, 0, []byte("not-"), false)
	edge.Add(1, 1, []byte("this"), true)
	_ = src.Append(segment.New(1, time.Second, time.Second, []byte("the journaled bytes")))
	waitUntil(t, "segment 1 acknowledged", func() bool { return u.Status().Recordings["rec1"].Acked == 2 })
	f.mu.Lock()
	got := string(f.recs["rec1"].segs[1])
	f.mu.Unlock()
	if got != "the journaled bytes" {
		t.Fatalf("server holds %q", got)
	}
}

// A segment whose chunks stop coming (the encoder stalled) is given up
// after PutTimeout and sent whole once it is appended.
func TestStalledStreamGoesWhole(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, src, edge := streamingJob(t, f, "rec1")
	edge.Add(1, 0, []byte("part"), false)
	time.Sleep(1500 * time.Millisecond) // PutTimeout is 1 s in testUplink
	_ = src.Append(segment.New(1, time.Second, time.Second, []byte("partial and then some")))
	waitUntil(t, "segment 1 acknowledged", func() bool { return u.Status().Recordings["rec1"].Acked == 2 })
	f.mu.Lock()
	got := string(f.recs["rec1"].segs[1])
	f.mu.Unlock()
	if got != "partial and then some" {
		t.Fatalf("server holds %q", got)
	}
}

// A server that dies mid-stream is marked offline as with any failed
// upload; when it is back it gets the segment whole from the buffer.
func TestServerLostMidStream(t *testing.T) {
	f := newFakeServer(t, "tk")
	u, src, edge := streamingJob(t, f, "rec1")
	path := strings.NewReplacer("{id}", "rec1", "{seq}", "1").Replace(wire.PathSegment)
	edge.Add(1, 0, []byte("first-"), false)
	waitUntil(t, "the first chunk at the server", func() bool { got, _ := f.inProgress(path); return got == "first-" })
	f.setDown(true)
	waitUntil(t, "offline", func() bool { return u.Status().State == Offline })
	edge.Add(1, 1, []byte("second"), true)
	_ = src.Append(segment.New(1, time.Second, time.Second, []byte("first-second")))
	f.setDown(false)
	waitUntil(t, "segment 1 acknowledged", func() bool { return u.Status().Recordings["rec1"].Acked == 2 })
	f.mu.Lock()
	got := string(f.recs["rec1"].segs[1])
	f.mu.Unlock()
	if got != "first-second" {
		t.Fatalf("server holds %q", got)
	}
}
