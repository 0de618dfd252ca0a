package live

import (
	"testing"

	"twincap/encoder/fmp4"
)

// pframes is a fragment of n P frames of 1/15 s from decode time at.
func pframes(at uint64, n int) fmp4.Fragment {
	f := fmp4.Fragment{Seq: 1, VideoDecodeTime: at}
	for range n {
		f.Video = append(f.Video, fmp4.Sample{Data: avcc(nalP), Duration: 6000})
	}
	return f
}

// PublishPart plays each chunk of a segment as it comes; the segment's
// Publish afterwards plays only the chunks that did not come (a stream
// cut short), or nothing; a segment published whole is not played again
// by late chunks of it.
func TestPublishPartThenWhole(t *testing.T) {
	chunks := [][]byte{
		marshal(t, gop(0, 3, 0, 0)),
		marshal(t, pframes(18000, 3)),
		marshal(t, pframes(36000, 3)),
	}
	whole := append(append(append([]byte(nil), chunks[0]...), chunks[1]...), chunks[2]...)
	next := marshal(t, gop(54000, 3, 0, 0))

	type step struct {
		part  int // -1: the whole segment
		seq   uint64
		body  []byte
		plays int // samples queued by this step
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"every chunk, then the segment", []step{{0, 1, chunks[0], 3}, {1, 1, chunks[1], 3}, {2, 1, chunks[2], 3}, {-1, 1, whole, 0}, {0, 2, next, 3}}},
		{"a stream cut short, then the segment", []step{{0, 1, chunks[0], 3}, {1, 1, chunks[1], 3}, {-1, 1, whole, 3}, {-1, 1, whole, 0}, {0, 2, next, 3}}},
		{"the segment whole, then late chunks", []step{{-1, 1, whole, 9}, {0, 1, chunks[0], 0}, {2, 1, chunks[2], 0}, {-1, 2, next, 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := New(Config{}, nil)
			if err != nil {
				t.Fatal(err)
			}
			h.publish("rec", position{}, stdInit(t), true)
			st := h.streams["rec"]
			for i, s := range tc.steps {
				before, dropped := len(st.sched.queue), st.dropped
				if s.part < 0 {
					h.publish("rec", position{seq: s.seq}, s.body, true)
				} else {
					h.publish("rec", position{seq: s.seq, part: uint32(s.part)}, s.body, false)
				}
				// All at once, a new IDR far ahead cuts what is queued.
				if got := len(st.sched.queue) - before + int(st.dropped-dropped); got != s.plays {
					t.Fatalf("step %d: %d samples queued, want %d", i, got, s.plays)
				}
			}
			if st.malformed != 0 {
				t.Fatalf("%d malformed", st.malformed)
			}
		})
	}
}
