package encoder

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"twincap/drivers/audio/audiotest"
	"twincap/drivers/camera/cameratest"
	"twincap/encoder/fmp4"
	"twincap/encoder/segment"
)

// With ChunkDuration set, each segment is cut into CMAF chunks: the
// segment's bytes are its chunks' bytes in order, each chunk is one
// moof+mdat, the first of a segment starts with the IDR,
// and both tracks run on without a gap across chunks. The chunks come out
// before their segment.
func TestChunkedSegments(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name      string
		chunk     time.Duration
		withAudio bool
		wantParts []int // chunks per media segment
	}{
		{"video, 200 ms chunks at 10 fps", 200 * ms, false, []int{5, 5, 5}},
		{"audio and video, 300 ms chunks", 300 * ms, true, []int{4, 4, 4}},
		{"chunk as long as the segment", time.Second, true, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cam := cameratest.New(smallFormat)
			cam.Push(cameratest.Frames(smallFormat, t0, 30)...)
			cam.End()
			cfg := smallConfig
			cfg.ChunkDuration = tc.chunk
			var p *Pipeline
			var err error
			if tc.withAudio {
				mic := audiotest.New(mono48)
				mic.Push(audiotest.Chunks(mono48, t0, 20*ms, 200)...)
				mic.End()
				p, err = New(cfg, cam, mic)
			} else {
				p, err = New(cfg, cam, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var chunks []Chunk
			p.OnChunk(func(c Chunk) {
				mu.Lock()
				chunks = append(chunks, c)
				mu.Unlock()
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out := make(chan segment.Segment)
			errc := make(chan error, 1)
			go func() { errc <- p.Run(ctx, out) }()
			var r result
			for s := range out {
				r.segs = append(r.segs, s)
				// The segment's last chunk was handed out before it (the
				// next segment's first may be too, by the time this runs).
				mu.Lock()
				lastOut := false
				for _, c := range chunks {
					lastOut = lastOut || (c.Seq == s.Seq && c.Last)
				}
				mu.Unlock()
				if s.Seq != segment.InitSeq && !lastOut {
					t.Errorf("segment %d came before its last chunk", s.Seq)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if len(r.segs) != len(tc.wantParts)+1 {
				t.Fatalf("%d segments, want %d", len(r.segs), len(tc.wantParts)+1)
			}
			var videoAt, audioAt uint64
			k := 0
			for i, s := range r.segs[1:] {
				if err := s.Verify(); err != nil {
					t.Fatal(err)
				}
				var joined []byte
				parts := 0
				for ; k < len(chunks) && chunks[k].Seq == s.Seq; k++ {
					c := chunks[k]
					if c.Part != parts || c.Last != (k+1 == len(chunks) || chunks[k+1].Seq != s.Seq) {
						t.Fatalf("segment %d: chunk %d is part %d, last %v", s.Seq, parts, c.Part, c.Last)
					}
					info, err := fmp4.ParseFragment(c.Data)
					if err != nil {
						t.Fatalf("segment %d chunk %d: %v", s.Seq, c.Part, err)
					}
					if info.Seq != uint32(s.Seq) {
						t.Fatalf("segment %d chunk %d: mfhd %d", s.Seq, c.Part, info.Seq)
					}
					for _, run := range info.Tracks {
						switch run.TrackID {
						case fmp4.VideoTrackID:
							if run.DecodeTime != videoAt {
								t.Fatalf("segment %d chunk %d: video at %d, previous ended at %d", s.Seq, c.Part, run.DecodeTime, videoAt)
							}
							if c.Start != duration(int64(videoAt), videoTimescale) {
								t.Fatalf("segment %d chunk %d: Start %v", s.Seq, c.Part, c.Start)
							}
							for j, smp := range run.Samples {
								// x264 may add an IDR of its own (a scene cut).
								if c.Part == 0 && j == 0 && !smp.Keyframe {
									t.Fatalf("segment %d chunk %d sample %d: keyframe %v", s.Seq, c.Part, j, smp.Keyframe)
								}
								videoAt += uint64(smp.Duration)
							}
							if c.End != duration(int64(videoAt), videoTimescale) {
								t.Fatalf("segment %d chunk %d: End %v, its video ends at %v", s.Seq, c.Part, c.End, duration(int64(videoAt), videoTimescale))
							}
						case fmp4.AudioTrackID:
							if run.DecodeTime != audioAt {
								t.Fatalf("segment %d chunk %d: audio at %d, previous ended at %d", s.Seq, c.Part, run.DecodeTime, audioAt)
							}
							audioAt += uint64(len(run.Samples)) * opusTicks
						}
					}
					joined = append(joined, c.Data...)
					parts++
				}
				if parts != tc.wantParts[i] {
					t.Fatalf("segment %d in %d chunks, want %d", s.Seq, parts, tc.wantParts[i])
				}
				if last := chunks[k-1]; last.End != s.Start+s.Duration {
					t.Fatalf("segment %d ends at %v, its last chunk at %v", s.Seq, s.Start+s.Duration, last.End)
				}
				if !bytes.Equal(joined, s.Data) {
					t.Fatalf("segment %d: %d bytes, its chunks %d bytes or different", s.Seq, len(s.Data), len(joined))
				}
			}
			if k != len(chunks) {
				t.Fatalf("%d chunks of no segment", len(chunks)-k)
			}
			if tc.withAudio && audioAt == 0 {
				t.Fatal("no audio in any chunk")
			}
		})
	}
}

// Without ChunkDuration, each segment is one chunk, the same bytes.
func TestUnchunkedSegmentIsOneChunk(t *testing.T) {
	cam := cameratest.New(smallFormat)
	cam.Push(cameratest.Frames(smallFormat, t0, 25)...)
	cam.End()
	p, err := New(smallConfig, cam, nil)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []Chunk
	p.OnChunk(func(c Chunk) { chunks = append(chunks, c) })
	r := runPipeline(t, p, nil)
	if r.err != nil {
		t.Fatal(r.err)
	}
	checkRecording(t, r, false)
	media := r.segs[1:]
	if len(chunks) != len(media) {
		t.Fatalf("%d chunks for %d segments", len(chunks), len(media))
	}
	for i, c := range chunks {
		if c.Seq != media[i].Seq || c.Part != 0 || !c.Last || !bytes.Equal(c.Data, media[i].Data) {
			t.Fatalf("chunk %d: seq %d part %d last %v, not the whole segment %d", i, c.Seq, c.Part, c.Last, media[i].Seq)
		}
	}
}

func TestChunkDurationValidated(t *testing.T) {
	for _, d := range []time.Duration{-time.Millisecond, 50 * time.Millisecond, 2 * time.Second} {
		cfg := smallConfig
		cfg.ChunkDuration = d
		if err := cfg.withDefaults().Validate(); err == nil {
			t.Errorf("ChunkDuration %v at 10 fps with 1 s segments: no error", d)
		}
	}
}
