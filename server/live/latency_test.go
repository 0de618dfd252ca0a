package live_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"testing"
	"time"

	"twincap/encoder"
	"twincap/encoder/segment"
	"twincap/server/live"
	"twincap/server/live/livetest"
)

// LatencyReport is what MeasurePublishToFirstRTP found.
type LatencyReport struct {
	Samples        []time.Duration
	Min, Mean, Max time.Duration
}

func report(ds []time.Duration) LatencyReport {
	r := LatencyReport{Samples: ds, Min: slices.Min(ds), Max: slices.Max(ds)}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	r.Mean = sum / time.Duration(len(ds))
	return r
}

// measurePublishToFirstRTP publishes n media segments to a hub with one
// connected viewer, each as soon as the previous one's IDR arrived (the
// hub cuts its queue and plays the new one at once, see schedule), and
// returns for each the time from Publish to the first RTP packet of its
// IDR at the viewer: parsing, scheduling, packetizing, SRTP and loopback.
func measurePublishToFirstRTP(ctx context.Context, tb testing.TB, rec livetest.Recording, n int) LatencyReport {
	tb.Helper()
	hub, err := live.New(live.Config{HostIPs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- hub.Run(rctx) }()
	defer func() { cancel(); <-done }()
	w, err := live.NewWHEP(hub, live.WHEPConfig{Authorize: func(*http.Request) error { return nil }}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(w)
	defer srv.Close()

	hub.Publish(recID, 0, rec.Segments[0].Data)
	c, err := livetest.Dial(ctx, livetest.ClientConfig{URL: srv.URL + live.PathWHEPCurrent})
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	if err := waitBound(ctx, hub, c); err != nil {
		tb.Fatal(err)
	}
	media := rec.Media()
	var ds []time.Duration
	for i := range n {
		s := media[i%len(media)]
		at := time.Now()
		hub.Publish(recID, uint64(i+1), s.Data)
		keys, err := c.WaitKeyframes(ctx, i+1)
		if err != nil {
			tb.Fatal(err)
		}
		ds = append(ds, keys[i].First.Sub(at))
	}
	return report(ds)
}

func TestPublishToFirstRTPLatency(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := measurePublishToFirstRTP(ctx, t, recording(t), 10)
	t.Logf("publish to first RTP of the segment's IDR: min %v, mean %v, max %v", r.Min, r.Mean, r.Max)
	if r.Mean > 50*time.Millisecond {
		t.Fatalf("mean %v: the hub adds more than it should to a segment's latency", r.Mean)
	}
}

func BenchmarkPublishToFirstRTP(b *testing.B) {
	rec := livetest.Record(b, livetest.RecordConfig{Duration: 4 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ResetTimer()
	r := measurePublishToFirstRTP(ctx, b, rec, b.N)
	b.ReportMetric(float64(r.Mean.Microseconds()), "µs/first-rtp")
	b.ReportMetric(float64(r.Max.Microseconds()), "µs-max/first-rtp")
}

// TestCaptureToRTPLatency runs the box's encoder on paced sources, as in
// a room, publishes each segment as it comes out, and measures for every
// frame the time from its capture to its arrival at a WHEP viewer. With
// segments of D it is about D (a segment is published once complete, and
// its first frame waits for its last) plus encoding: the segment length is
// what limits live latency.
func TestCaptureToRTPLatency(t *testing.T) {
	rep := measureCaptureToRTP(t, 0)
	if rep.Min < time.Second/2 || rep.Mean > time.Second+500*time.Millisecond {
		t.Fatalf("latency min %v, mean %v: want about one segment (1s)", rep.Min, rep.Mean)
	}
}

// TestCaptureToRTPLatencyWithChunks is the same with 200 ms CMAF chunks
// handed to PublishPart as the encoder cuts them (as the server does while
// a streamed segment arrives): a frame is about a chunk behind capture.
func TestCaptureToRTPLatencyWithChunks(t *testing.T) {
	const chunk = 200 * time.Millisecond
	rep := measureCaptureToRTP(t, chunk)
	if rep.Mean > 2*chunk+100*time.Millisecond {
		t.Fatalf("latency mean %v: want about one chunk (%v), not a segment", rep.Mean, chunk)
	}
}

func measureCaptureToRTP(t *testing.T, chunk time.Duration) LatencyReport {
	const segLen = time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := newRig(t, live.Config{}, live.WHEPConfig{})

	type published struct {
		seq   uint64
		idrAt time.Duration // media time of the IDR it starts with, if any
		idr   bool
		at    time.Time // when it was published
		start time.Time // when the recording's first frame was captured
	}
	pubs := make(chan published, 256)
	pctx, stop := context.WithCancel(ctx)
	perr := make(chan error, 1)
	var onChunk func(c encoder.Chunk, start time.Time)
	if chunk > 0 {
		onChunk = func(c encoder.Chunk, start time.Time) {
			// Stamped before it is published: a viewer may have its first
			// packet before PublishPart returns.
			at := time.Now()
			r.hub.PublishPart(recID, c.Seq, uint32(c.Part), c.Data)
			pubs <- published{c.Seq, c.Start, c.Part == 0, at, start}
		}
	}
	go func() {
		perr <- livetest.PacedChunks(pctx, livetest.RecordConfig{SegmentDuration: segLen, ChunkDuration: chunk}, onChunk,
			func(s segment.Segment, start time.Time) {
				// The segment once durable; with chunks, the hub ignores it.
				at := time.Now()
				r.hub.Publish(recID, s.Seq, s.Data)
				if chunk == 0 || s.Seq == segment.InitSeq {
					pubs <- published{s.Seq, s.Start, s.Seq != segment.InitSeq, at, start}
				}
			})
		close(pubs)
	}()
	if p := <-pubs; p.seq != segment.InitSeq {
		t.Fatalf("first segment %d, want the init segment", p.seq)
	}
	c := r.dial(ctx, t, live.PathWHEPCurrent)
	keys, err := c.WaitKeyframes(ctx, 3)
	stop()
	if perr := <-perr; perr != nil {
		t.Fatal(perr)
	}
	if err != nil {
		t.Fatal(err)
	}
	// The viewer's first IDR is the first frame of the segment (or chunk)
	// with an IDR published last before it arrived.
	var k0 published
	for p := range pubs {
		if p.idr && !p.at.After(keys[0].First) {
			k0 = p
		}
	}
	if k0.seq == 0 {
		t.Fatal("no media segment was published before the first keyframe arrived")
	}
	var lat []time.Duration
	for _, f := range c.Frames() {
		if f.Arrived.After(keys[2].Arrived) {
			break
		}
		media := k0.idrAt + time.Duration(f.RTPTime-keys[0].RTPTime)*time.Second/90000
		lat = append(lat, f.Arrived.Sub(k0.start.Add(media)))
	}
	rep := report(lat)
	t.Logf("capture to RTP arrival with %v segments, chunks %v, %d frames: min %v, mean %v, max %v", segLen, chunk, len(lat), rep.Min, rep.Mean, rep.Max)
	return rep
}
