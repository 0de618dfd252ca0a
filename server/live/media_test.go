package live

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"twincap/encoder/fmp4"
	"twincap/encoder/h264"
)

// Parameter sets as x264 writes them (320x240 High), so fmp4.Init and
// ParseInit accept them.
var (
	testSPS = mustHex("6764000dacb40a0fd0800000030080000019478a1550")
	testPPS = mustHex("68ef3cb0")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

var (
	nalSEI  = []byte{0x06, 0x05, 0x01, 0x80}
	nalIDR  = []byte{0x65, 0x88, 0x84, 0x00, 0x21}
	nalP    = []byte{0x41, 0x9a, 0x02, 0x04}
	nalAUD  = []byte{0x09, 0xf0}
	opusPkt = []byte{0xfc, 0xff, 0xfe}
)

func initSegment(tb testing.TB, video fmp4.VideoTrack, audio *fmp4.AudioTrack) []byte {
	tb.Helper()
	b, err := fmp4.Init(video, audio)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func stdInit(tb testing.TB) []byte {
	return initSegment(tb, fmp4.VideoTrack{SPS: testSPS, PPS: testPPS, Timescale: 90000}, &fmp4.AudioTrack{Channels: 1, PreSkip: 312})
}

func marshal(tb testing.TB, f fmp4.Fragment) []byte {
	tb.Helper()
	b, err := f.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func avcc(nalus ...[]byte) []byte { return h264.AVCC(nalus) }

// gop is a fragment: an IDR and n-1 P frames of 1/15 s from decode time
// at (video ticks), and Opus packets of 20 ms from audioAt (48 kHz ticks).
func gop(at uint64, n int, audioAt uint64, packets int) fmp4.Fragment {
	f := fmp4.Fragment{Seq: 1, VideoDecodeTime: at, AudioDecodeTime: audioAt}
	for i := range n {
		s := fmp4.Sample{Data: avcc(nalP), Duration: 6000}
		if i == 0 {
			s = fmp4.Sample{Data: avcc(nalSEI, nalIDR), Duration: 6000, Keyframe: true}
		}
		f.Video = append(f.Video, s)
	}
	for range packets {
		f.Audio = append(f.Audio, fmp4.Sample{Data: opusPkt, Duration: 960, Keyframe: true})
	}
	return f
}

type wantSample struct {
	video bool
	nals  []byte // video: NAL types in order
	at    time.Duration
	ticks uint32
}

func v(at time.Duration, ticks uint32, nals ...byte) wantSample {
	return wantSample{video: true, nals: nals, at: at, ticks: ticks}
}

func a(at time.Duration) wantSample { return wantSample{at: at, ticks: 960} }

const ms = time.Millisecond

// segmentCase is one row of the table that TestParseSegment checks and
// FuzzParseSegment starts from.
type segmentCase struct {
	name    string
	init    func(testing.TB) []byte
	body    func(testing.TB) []byte
	err     bool
	samples []wantSample
	starts  []time.Duration // each fragment's start
}

var segmentCases = []segmentCase{
	{
		name: "IDR gets SPS and PPS in front, P frames do not",
		init: stdInit,
		body: func(tb testing.TB) []byte { return marshal(tb, gop(90000, 2, 48000, 0)) },
		samples: []wantSample{
			v(time.Second, 6000, h264.NALSPS, h264.NALPPS, h264.NALSEI, h264.NALIDR),
			v(time.Second+200*ms/3, 6000, h264.NALSlice),
		},
		starts: []time.Duration{time.Second},
	},
	{
		name: "audio interleaved by media time",
		init: stdInit,
		body: func(tb testing.TB) []byte { return marshal(tb, gop(0, 2, 0, 4)) },
		samples: []wantSample{
			v(0, 6000, h264.NALSPS, h264.NALPPS, h264.NALSEI, h264.NALIDR), a(0), a(20 * ms), a(40 * ms),
			a(60 * ms), v(200*ms/3, 6000, h264.NALSlice),
		},
		starts: []time.Duration{0},
	},
	{
		name: "delimiters dropped, an IDR with its own SPS left alone",
		init: stdInit,
		body: func(tb testing.TB) []byte {
			return marshal(tb, fmp4.Fragment{Seq: 3, Video: []fmp4.Sample{{Data: avcc(nalAUD, testSPS, testPPS, nalIDR), Duration: 3000, Keyframe: true}}})
		},
		samples: []wantSample{v(0, 3000, h264.NALSPS, h264.NALPPS, h264.NALIDR)},
		starts:  []time.Duration{0},
	},
	{
		name: "two moof+mdat pairs after an styp",
		init: stdInit,
		body: func(tb testing.TB) []byte {
			styp := []byte{0, 0, 0, 16, 's', 't', 'y', 'p', 'm', 's', 'd', 'h', 0, 0, 0, 0}
			first := gop(0, 1, 0, 0)
			second := fmp4.Fragment{Seq: 1, VideoDecodeTime: 6000, Video: []fmp4.Sample{{Data: avcc(nalP), Duration: 6000}}}
			return slices.Concat(styp, marshal(tb, first), marshal(tb, second))
		},
		samples: []wantSample{
			v(0, 6000, h264.NALSPS, h264.NALPPS, h264.NALSEI, h264.NALIDR),
			v(200*ms/3, 6000, h264.NALSlice),
		},
		starts: []time.Duration{0, 200 * ms / 3},
	},
	{
		name: "a millisecond video clock is rescaled to 90 kHz without drift",
		init: func(tb testing.TB) []byte {
			return initSegment(tb, fmp4.VideoTrack{SPS: testSPS, PPS: testPPS, Timescale: 1000}, nil)
		},
		body: func(tb testing.TB) []byte {
			return marshal(tb, fmp4.Fragment{Seq: 1, VideoDecodeTime: 1001, Video: []fmp4.Sample{
				{Data: avcc(nalIDR), Duration: 33, Keyframe: true}, {Data: avcc(nalP), Duration: 34}}})
		},
		samples: []wantSample{
			v(1001*ms, 2970, h264.NALSPS, h264.NALPPS, h264.NALIDR),
			v(1034*ms, 3060, h264.NALSlice),
		},
		starts: []time.Duration{1001 * ms},
	},
	{
		name: "audio without an Opus track in the init is not played",
		init: func(tb testing.TB) []byte {
			return initSegment(tb, fmp4.VideoTrack{SPS: testSPS, PPS: testPPS}, nil)
		},
		body:    func(tb testing.TB) []byte { return marshal(tb, gop(0, 1, 0, 3)) },
		samples: []wantSample{v(0, 6000, h264.NALSPS, h264.NALPPS, h264.NALSEI, h264.NALIDR)},
		starts:  []time.Duration{0},
	},
	{
		name: "an Opus packet too big for one RTP packet is dropped",
		init: stdInit,
		body: func(tb testing.TB) []byte {
			f := gop(0, 1, 0, 2)
			f.Audio[0].Data = make([]byte, maxAudioPacket+1)
			return marshal(tb, f)
		},
		samples: []wantSample{v(0, 6000, h264.NALSPS, h264.NALPPS, h264.NALSEI, h264.NALIDR), a(20 * ms)},
		starts:  []time.Duration{0},
	},
	{
		name: "a length prefix past the sample's end",
		init: stdInit,
		body: func(tb testing.TB) []byte {
			return marshal(tb, fmp4.Fragment{Seq: 1, Video: []fmp4.Sample{{Data: []byte{0, 0, 0, 9, 0x65}, Duration: 1, Keyframe: true}}})
		},
		err: true,
	},
	{
		name: "a decode time beyond any interview",
		init: stdInit,
		body: func(tb testing.TB) []byte { return marshal(tb, gop(math.MaxUint64-100, 1, 0, 0)) },
		err:  true,
	},
	{
		name: "the init segment is not media",
		init: stdInit,
		body: stdInit,
		err:  true,
	},
	{
		name: "truncated",
		init: stdInit,
		body: func(tb testing.TB) []byte { b := marshal(tb, gop(0, 3, 0, 3)); return b[:len(b)-7] },
		err:  true,
	},
	{
		name: "a box size past the end",
		init: stdInit,
		body: func(tb testing.TB) []byte { return []byte{0xff, 0xff, 0xff, 0xff, 'm', 'o', 'o', 'f', 0} },
		err:  true,
	},
	{
		name: "empty",
		init: stdInit,
		body: func(testing.TB) []byte { return nil },
		err:  true,
	},
}

func TestParseSegment(t *testing.T) {
	for _, tc := range segmentCases {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := parseInit(tc.init(t))
			if err != nil {
				t.Fatal(err)
			}
			frags, err := parseSegment(tr, tc.body(t))
			if tc.err {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []wantSample
			var starts []time.Duration
			for _, f := range frags {
				starts = append(starts, f.start)
				for _, s := range f.samples {
					w := wantSample{video: s.video, at: s.at, ticks: s.ticks}
					if s.video {
						for _, n := range h264.SplitAnnexB(s.data) {
							w.nals = append(w.nals, h264.NALType(n))
						}
						if !bytes.HasPrefix(s.data, []byte{0, 0, 0, 1}) {
							t.Errorf("video sample at %v is not Annex-B", s.at)
						}
						if s.key != slices.Contains(w.nals, h264.NALIDR) {
							t.Errorf("sample at %v: key %v, NAL types %v", s.at, s.key, w.nals)
						}
					} else if !bytes.Equal(s.data, opusPkt) {
						t.Errorf("audio sample at %v: %x", s.at, s.data)
					}
					if uint32(s.dur.Seconds()*float64(clockOf(s))) != s.ticks {
						t.Errorf("sample at %v: duration %v does not give %d ticks", s.at, s.dur, s.ticks)
					}
					got = append(got, w)
				}
			}
			if !slices.EqualFunc(got, tc.samples, func(x, y wantSample) bool {
				return x.video == y.video && x.at == y.at && x.ticks == y.ticks && bytes.Equal(x.nals, y.nals)
			}) {
				t.Fatalf("samples\n got %+v\nwant %+v", got, tc.samples)
			}
			if !slices.Equal(starts, tc.starts) {
				t.Fatalf("fragment starts %v, want %v", starts, tc.starts)
			}
		})
	}
}

func clockOf(s sample) uint32 {
	if s.video {
		return videoClock
	}
	return audioClock
}

func TestParseInit(t *testing.T) {
	tr, err := parseInit(stdInit(t))
	if err != nil {
		t.Fatal(err)
	}
	if tr.profile != "64000d" || tr.codecName() != "avc1.64000d" || !tr.audio || tr.channels != 1 ||
		tr.width != 320 || tr.height != 240 || tr.videoScale != 90000 || !bytes.Equal(tr.sps, testSPS) {
		t.Fatalf("tracks %+v", tr)
	}
	if _, err := parseInit(marshal(t, gop(0, 1, 0, 0))); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a fragment as init: %v", err)
	}
}

// TestRTPDuration checks the one conversion pion does with floats: every
// duration we hand it must come back as exactly the ticks we meant, or
// the RTP clocks drift (a tick a frame at 30 fps is a second an hour).
func TestRTPDuration(t *testing.T) {
	for _, clock := range []uint32{videoClock, audioClock} {
		for ticks := uint32(0); ticks <= 3*clock; ticks++ {
			d := rtpDuration(ticks, clock)
			if got := uint32(d.Seconds() * float64(clock)); got != ticks {
				t.Fatalf("clock %d: rtpDuration(%d) = %v, which pion turns into %d ticks", clock, ticks, d, got)
			}
		}
	}
}

func TestRescale(t *testing.T) {
	for _, tc := range []struct {
		t        uint64
		from, to uint32
		want     uint64
		ok       bool
	}{
		{90000, 90000, 48000, 48000, true},
		{1001, 1000, 90000, 90090, true},
		{1, 3, 90000, 30000, true},
		{math.MaxUint64, 1, 90000, 0, false},
		{1 << 62, 1, 2, 1 << 63, false},
		{5, 0, 90000, 0, false},
	} {
		got, ok := rescale(tc.t, tc.from, tc.to)
		if got != tc.want || ok != tc.ok {
			t.Errorf("rescale(%d, %d, %d) = %d, %v; want %d, %v", tc.t, tc.from, tc.to, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzParseSegment: whatever a box sends, the parse path returns samples a
// track can take, or ErrMalformed; it never panics. The schedule takes
// whatever it returns.
func FuzzParseSegment(f *testing.F) {
	for _, tc := range segmentCases {
		f.Add(tc.init(f), tc.body(f))
	}
	fallback, err := parseInit(stdInit(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, initB, body []byte) {
		tr, err := parseInit(initB)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseInit: %v, want ErrMalformed", err)
			}
			tr = fallback
		}
		frags, err := parseSegment(tr, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseSegment: %v, want ErrMalformed", err)
			}
			return
		}
		sched := schedule{maxLag: DefaultMaxLag}
		now := time.Unix(0, 0)
		for _, fr := range frags {
			if len(fr.samples) == 0 {
				t.Fatal("a fragment without samples")
			}
			for i, s := range fr.samples {
				switch {
				case len(s.data) == 0:
					t.Fatalf("empty sample %d", i)
				case s.at < 0 || s.at > maxMediaTime:
					t.Fatalf("sample %d at %v", i, s.at)
				case i > 0 && s.at < fr.samples[i-1].at:
					t.Fatalf("sample %d before its predecessor", i)
				case s.video && !bytes.HasPrefix(s.data, []byte{0, 0, 0, 1}):
					t.Fatalf("video sample %d is not Annex-B", i)
				case s.video && s.key && h264.NALType(h264.SplitAnnexB(s.data)[0]) != h264.NALSPS:
					t.Fatalf("IDR sample %d does not start with an SPS", i)
				case !s.video && len(s.data) > maxAudioPacket:
					t.Fatalf("audio sample %d of %d bytes", i, len(s.data))
				}
			}
			sched.add(now, fr)
			now = now.Add(100 * ms)
			sched.take(now)
		}
	})
}

// FuzzPublish drives the hub's own publish path (seq and bytes as a box
// might send them, after a good init) without a network: it must never
// panic, and its counters must add up.
func FuzzPublish(f *testing.F) {
	for i, tc := range segmentCases {
		f.Add(uint64(i), tc.body(f))
	}
	f.Add(uint64(0), []byte("not an init segment"))
	init := stdInit(f)
	f.Fuzz(func(t *testing.T, seq uint64, body []byte) {
		h, err := New(Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h.publish("rec", position{}, init, true)
		h.publish("rec", position{seq: 5}, marshal(t, gop(0, 2, 0, 2)), true)
		h.publish("rec", position{seq: seq}, body, true)
		h.publish("rec", position{seq: seq}, body, true)
		st := h.streams["rec"]
		if st.published+st.ignored+st.malformed != 3 && seq != 0 {
			t.Fatalf("%d published + %d ignored + %d malformed, want 3 calls accounted for", st.published, st.ignored, st.malformed)
		}
		if seq <= 5 && seq != 0 && st.published != 1 {
			t.Fatalf("segment %d, at or before the newest (5), was played", seq)
		}
		h.writeDue()
	})
}
