package fmp4

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"reflect"
	"testing"
	"unsafe"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Parameter sets x264 wrote (through ffmpeg, testsrc).
var (
	sps320   = mustHex("6742c00dd90141fb0110000003001000000303c0f142a480")       // baseline 320x240
	spsHD    = mustHex("67640028acd940780227e5c044000003000400000300f03c60c658") // high 1920x1080
	sps444   = mustHex("67f4000b919b28589d8088000003000800000301e078a14cb0")     // high 4:4:4 176x144
	ppsPlain = mustHex("68ce3c80")
	ppsHigh  = mustHex("68ebe3cb22c0")
)

// initCases is the one table behind TestInitRoundTrip, TestInitErrors and
// the seeds of FuzzParseInit. want is what ParseInit must return; the zero
// value of want means Init must fail with ErrInvalidTrack.
var initCases = []struct {
	name string
	v    VideoTrack
	a    *AudioTrack
	want InitInfo
}{
	{"video only, defaults from SPS",
		VideoTrack{SPS: sps320, PPS: ppsPlain}, nil,
		InitInfo{Video: VideoTrack{Width: 320, Height: 240, SPS: sps320, PPS: ppsPlain, Timescale: 90000}, Tracks: 1}},
	{"video and stereo opus",
		VideoTrack{Width: 320, Height: 240, SPS: sps320, PPS: ppsPlain, Timescale: 90000},
		&AudioTrack{SampleRate: 48000, Channels: 2, PreSkip: 312},
		InitInfo{Video: VideoTrack{Width: 320, Height: 240, SPS: sps320, PPS: ppsPlain, Timescale: 90000},
			Audio: &AudioTrack{SampleRate: 48000, Channels: 2, PreSkip: 312}, Tracks: 2}},
	{"high profile, mono 16 kHz input",
		VideoTrack{SPS: spsHD, PPS: ppsHigh, Timescale: 30000}, &AudioTrack{SampleRate: 16000, Channels: 1, PreSkip: 3840},
		InitInfo{Video: VideoTrack{Width: 1920, Height: 1080, SPS: spsHD, PPS: ppsHigh, Timescale: 30000},
			Audio: &AudioTrack{SampleRate: 16000, Channels: 1, PreSkip: 3840}, Tracks: 2}},
	{"4:4:4 with explicit size, audio rate defaulted",
		VideoTrack{Width: 352, Height: 288, SPS: sps444, PPS: ppsHigh}, &AudioTrack{Channels: 1},
		InitInfo{Video: VideoTrack{Width: 352, Height: 288, SPS: sps444, PPS: ppsHigh, Timescale: 90000},
			Audio: &AudioTrack{SampleRate: 48000, Channels: 1}, Tracks: 2}},

	{"no SPS", VideoTrack{PPS: ppsPlain}, nil, InitInfo{}},
	{"SPS and PPS swapped", VideoTrack{SPS: ppsPlain, PPS: sps320}, nil, InitInfo{}},
	{"truncated SPS", VideoTrack{SPS: sps320[:5], PPS: ppsPlain}, nil, InitInfo{}},
	{"negative width", VideoTrack{Width: -1, Height: 240, SPS: sps320, PPS: ppsPlain}, nil, InitInfo{}},
	{"width too large", VideoTrack{Width: 70000, Height: 240, SPS: sps320, PPS: ppsPlain}, nil, InitInfo{}},
	{"six audio channels", VideoTrack{SPS: sps320, PPS: ppsPlain}, &AudioTrack{Channels: 6}, InitInfo{}},
	{"no audio channels", VideoTrack{SPS: sps320, PPS: ppsPlain}, &AudioTrack{}, InitInfo{}},
}

func TestInitRoundTrip(t *testing.T) {
	for _, tc := range initCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Init(tc.v, tc.a)
			if tc.want.Tracks == 0 {
				if !errors.Is(err, ErrInvalidTrack) {
					t.Fatalf("Init = %d bytes, %v; want ErrInvalidTrack", len(b), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseInit(b)
			if err != nil {
				t.Fatalf("ParseInit: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseInit(Init(x)) = %+v %+v, want %+v %+v", got, got.Audio, tc.want, tc.want.Audio)
			}
		})
	}
}

// Init must not change what the caller passed in, even while filling in
// defaults.
func TestInitLeavesArgumentsAlone(t *testing.T) {
	a := &AudioTrack{Channels: 2}
	if _, err := Init(VideoTrack{SPS: sps320, PPS: ppsPlain}, a); err != nil {
		t.Fatal(err)
	}
	if *a != (AudioTrack{Channels: 2}) {
		t.Fatalf("Init changed its audio argument to %+v", *a)
	}
}

var (
	key    = Sample{Data: []byte{0, 0, 0, 2, 0x65, 0x88}, Duration: 3000, Keyframe: true}
	delta  = Sample{Data: []byte{0, 0, 0, 3, 0x41, 0x9a, 0x01}, Duration: 3000}
	delta2 = Sample{Data: []byte{0, 0, 0, 1, 0x41}, Duration: 2999}
	opus1  = Sample{Data: []byte{0xfc, 0xff, 0xfe}, Duration: 960, Keyframe: true}
	opus2  = Sample{Data: []byte{0xfc, 0x01}, Duration: 960, Keyframe: true}
)

// fragmentCases is the one table behind TestFragmentRoundTrip and the seeds
// of FuzzParseFragment. A nil want means Marshal must fail with
// ErrInvalidFragment. The cases cover each way writeTraf lays out
// durations and flags.
var fragmentCases = []struct {
	name string
	f    Fragment
	want []TrackRun
}{
	{"one keyframe", Fragment{Seq: 1, Video: []Sample{key}},
		[]TrackRun{{TrackID: 1, Samples: []Sample{key}}}},
	{"gop with audio", Fragment{Seq: 2, VideoDecodeTime: 90000, Video: []Sample{key, delta, delta, delta},
		AudioDecodeTime: 48000, Audio: []Sample{opus1, opus2, opus1}},
		[]TrackRun{{TrackID: 1, DecodeTime: 90000, Samples: []Sample{key, delta, delta, delta}},
			{TrackID: 2, DecodeTime: 48000, Samples: []Sample{opus1, opus2, opus1}}}},
	{"uneven durations", Fragment{Seq: 3, VideoDecodeTime: 1 << 40, Video: []Sample{key, delta2, delta}},
		[]TrackRun{{TrackID: 1, DecodeTime: 1 << 40, Samples: []Sample{key, delta2, delta}}}},
	{"keyframe in the middle", Fragment{Seq: 4, Video: []Sample{key, delta, key, delta}},
		[]TrackRun{{TrackID: 1, Samples: []Sample{key, delta, key, delta}}}},
	{"starts without keyframe", Fragment{Seq: 5, Video: []Sample{delta, delta}},
		[]TrackRun{{TrackID: 1, Samples: []Sample{delta, delta}}}},
	{"all keyframes", Fragment{Seq: 6, Video: []Sample{key, key}},
		[]TrackRun{{TrackID: 1, Samples: []Sample{key, key}}}},
	{"audio only", Fragment{Seq: 7, AudioDecodeTime: 960, Audio: []Sample{opus2}},
		[]TrackRun{{TrackID: 2, DecodeTime: 960, Samples: []Sample{opus2}}}},
	{"audio marked non-sync is still sync", Fragment{Seq: 8, Video: []Sample{key},
		Audio: []Sample{{Data: []byte{1}, Duration: 960}}},
		[]TrackRun{{TrackID: 1, Samples: []Sample{key}}, {TrackID: 2, Samples: []Sample{{Data: []byte{1}, Duration: 960, Keyframe: true}}}}},

	{"empty", Fragment{Seq: 9}, nil},
	{"empty sample", Fragment{Seq: 10, Video: []Sample{key, {Duration: 3000}}}, nil},
}

func TestFragmentRoundTrip(t *testing.T) {
	for _, tc := range fragmentCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.f.Marshal()
			if tc.want == nil {
				if !errors.Is(err, ErrInvalidFragment) {
					t.Fatalf("Marshal = %d bytes, %v; want ErrInvalidFragment", len(b), err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseFragment(b)
			if err != nil {
				t.Fatalf("ParseFragment: %v", err)
			}
			want := FragmentInfo{Seq: tc.f.Seq, Tracks: tc.want}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ParseFragment(Marshal(x)) =\n%+v\nwant\n%+v", got, want)
			}
			for _, run := range got.Tracks {
				for _, s := range run.Samples {
					if !within(s.Data, b) {
						t.Fatalf("sample data %x is a copy, want a slice of the input", s.Data)
					}
				}
			}
		})
	}
}

func within(s, b []byte) bool {
	p, lo := uintptr(unsafe.Pointer(unsafe.SliceData(s))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return p >= lo && p+uintptr(len(s)) <= lo+uintptr(len(b))
}

// The layout the players depend on: one moof then one mdat, data offsets
// that point into the mdat, video before audio.
func TestFragmentLayout(t *testing.T) {
	f := Fragment{Seq: 42, Video: []Sample{key, delta}, Audio: []Sample{opus1}}
	b, err := f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	top, err := parseBoxes(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 || top[0].typ != "moof" || top[1].typ != "mdat" {
		t.Fatalf("top-level boxes %v, want moof, mdat", top)
	}
	wantMdat := append(append(append([]byte{}, key.Data...), delta.Data...), opus1.Data...)
	if !bytes.Equal(top[1].body, wantMdat) {
		t.Fatalf("mdat %x, want %x", top[1].body, wantMdat)
	}
}

// Every proper prefix of a segment is a torn write: it must fail, never
// panic and never pass.
func TestTruncatedSegmentsFail(t *testing.T) {
	init, err := Init(initCases[1].v, initCases[1].a)
	if err != nil {
		t.Fatal(err)
	}
	frag, err := fragmentCases[1].f.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(init) {
		if _, err := ParseInit(init[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseInit of %d of %d bytes: %v, want ErrMalformed", n, len(init), err)
		}
	}
	for n := range len(frag) {
		if _, err := ParseFragment(frag[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseFragment of %d of %d bytes: %v, want ErrMalformed", n, len(frag), err)
		}
	}
}

// hostile builds a fragment by hand: moof{mfhd, traf{tfhd, trun}} + mdat.
func hostile(tfhdFlags uint32, tfhdFields []uint32, trunFlags, count uint32, trunFields []uint32, mdat []byte) []byte {
	w := &boxWriter{}
	moof := w.begin("moof")
	mfhd := w.beginFull("mfhd", 0, 0)
	w.u32(1)
	w.end(mfhd)
	traf := w.begin("traf")
	tfhd := w.beginFull("tfhd", 0, tfhdFlags)
	w.u32(1)
	w.u32s(tfhdFields...)
	w.end(tfhd)
	trun := w.beginFull("trun", 0, trunFlags)
	w.u32(count)
	w.u32s(trunFields...)
	w.end(trun)
	w.end(traf)
	w.end(moof)
	m := w.begin("mdat")
	w.bytes(mdat)
	w.end(m)
	return w.b
}

func withBox(typ string, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	return append(append(b, typ...), body...)
}

// malformedFragments must all fail with ErrMalformed; they seed the fuzzer
// too.
var malformedFragments = []struct {
	name string
	b    []byte
}{
	{"empty", nil},
	{"stray bytes", []byte{0, 0, 0}},
	{"size past the end", []byte{0xff, 0xff, 0xff, 0xff, 'm', 'o', 'o', 'f'}},
	{"size below header", []byte{0, 0, 0, 4, 'm', 'o', 'o', 'f'}},
	{"huge large size", []byte{0, 0, 0, 1, 'm', 'd', 'a', 't', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	{"mdat only", withBox("mdat", []byte{1, 2, 3})},
	{"moof only", withBox("moof", withBox("mfhd", make([]byte, 8)))},
	{"two moofs", append(withBox("moof", withBox("mfhd", make([]byte, 8))), withBox("moof", withBox("mfhd", make([]byte, 8)))...)},
	{"moof without mfhd", append(withBox("moof", nil), withBox("mdat", nil)...)},
	{"4 billion samples, no table",
		hostile(tfhdDefaultBaseIsMoof|tfhdDefaultSize, []uint32{1}, trunDataOffset, 0xffffffff, []uint32{0}, []byte{1, 2, 3})},
	{"4 billion samples, short table",
		hostile(tfhdDefaultBaseIsMoof, nil, trunDataOffset|trunSize, 0xffffffff, []uint32{0, 1}, []byte{1})},
	{"no sizes", hostile(tfhdDefaultBaseIsMoof, nil, trunDataOffset, 1, []uint32{0}, []byte{1})},
	{"data before mdat", hostile(tfhdDefaultBaseIsMoof, nil, trunDataOffset|trunSize, 1, []uint32{0, 4}, []byte{1, 2, 3, 4})},
	{"negative data offset", hostile(tfhdDefaultBaseIsMoof, nil, trunDataOffset|trunSize, 1, []uint32{0x80000000, 1}, []byte{1})},
	{"sample past mdat", hostile(tfhdDefaultBaseIsMoof, nil, trunSize, 1, []uint32{0xffffffff}, []byte{1})},
	{"base data offset past the end", hostile(tfhdBaseDataOffset, []uint32{0xffffffff, 0xffffffff}, trunSize, 1, []uint32{1}, []byte{1})},
	{"empty sample", hostile(tfhdDefaultBaseIsMoof, nil, trunSize, 1, []uint32{0}, []byte{1})},
}

func TestParseFragmentMalformed(t *testing.T) {
	for _, tc := range malformedFragments {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseFragment(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseFragment = %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
}

// Fragments other muxers write use layouts Marshal never does; the parser
// must still find the samples.
func TestParseFragmentForeignLayouts(t *testing.T) {
	mdat := []byte{0xa, 0xb, 0xc, 0xd, 0xe}
	// An absolute base data offset instead of default-base-is-moof, no
	// data_offset in trun, defaults in tfhd, first-sample flags and
	// composition offsets: all things other muxers write.
	build := func(prefix []byte, base uint32) []byte {
		return append(append([]byte{}, prefix...), hostile(tfhdBaseDataOffset|tfhdDefaultDuration|tfhdDefaultFlags,
			[]uint32{0, base, 512, flagsNonSync},
			trunSize|trunCompositionTime|trunFirstSampleFlags, 2, []uint32{flagsSync, 2, 7, 3, 7}, mdat)...)
	}
	start := uint32(len(build(nil, 0)) - len(mdat))
	styp := withBox("styp", []byte("msdh\x00\x00\x00\x00msdh"))
	want := FragmentInfo{Seq: 1, Tracks: []TrackRun{{TrackID: 1, Samples: []Sample{
		{Data: mdat[:2], Duration: 512, Keyframe: true},
		{Data: mdat[2:5], Duration: 512},
	}}}}
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"absolute base", build(nil, start)},
		{"styp in front moves the base", build(styp, start+uint32(len(styp)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFragment(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseInitMalformed(t *testing.T) {
	good, err := Init(initCases[1].v, initCases[1].a)
	if err != nil {
		t.Fatal(err)
	}
	ftyp := good[:binary.BigEndian.Uint32(good)]
	moov := good[len(ftyp):]
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"moov without ftyp", moov},
		{"ftyp only", ftyp},
		{"fragment instead", func() []byte { b, _ := fragmentCases[0].f.Marshal(); return b }()},
		{"empty moov", append(append([]byte{}, ftyp...), withBox("moov", nil)...)},
		{"mvex without trak", append(append([]byte{}, ftyp...), withBox("moov", withBox("mvex", nil))...)},
		{"avcC with 31 SPS", bytes.Replace(good, []byte{0xe1, 0x00, byte(len(sps320))}, []byte{0xff, 0x00, byte(len(sps320))}, 1)},
		{"bad SPS in avcC", bytes.Replace(good, sps320, append([]byte{0x67, 0x42, 0xc0, 0x0d}, make([]byte, len(sps320)-4)...), 1)},
		{"Opus with 0 channels", bytes.Replace(good, []byte{'d', 'O', 'p', 's', 0, 2}, []byte{'d', 'O', 'p', 's', 0, 0}, 1)},
		{"track without trex", bytes.Replace(good, []byte{'t', 'r', 'e', 'x', 0, 0, 0, 0, 0, 0, 0, 1}, []byte{'t', 'r', 'e', 'x', 0, 0, 0, 0, 0, 0, 0, 9}, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := ParseInit(tc.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseInit = %+v, %v; want ErrMalformed", got, err)
			}
		})
	}
}

func FuzzParseInit(f *testing.F) {
	for _, tc := range initCases {
		if b, err := Init(tc.v, tc.a); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseInit(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// What ParseInit accepts, Init must write back the same way, as
		// far as Init can write it at all.
		again, err := Init(info.Video, info.Audio)
		if err != nil {
			return
		}
		info2, err := ParseInit(again)
		if err != nil {
			t.Fatalf("ParseInit(Init(%+v)): %v", info, err)
		}
		again2, err := Init(info2.Video, info2.Audio)
		if err != nil || !bytes.Equal(again, again2) {
			t.Fatalf("Init is not stable: %v\n%x\n%x", err, again, again2)
		}
	})
}

func FuzzParseFragment(f *testing.F) {
	for _, tc := range fragmentCases {
		if b, err := tc.f.Marshal(); err == nil {
			f.Add(b)
		}
	}
	for _, tc := range malformedFragments {
		f.Add(tc.b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := ParseFragment(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		for _, run := range info.Tracks {
			for _, s := range run.Samples {
				if len(s.Data) == 0 || !within(s.Data, b) {
					t.Fatalf("sample data %x is not a non-empty slice of the input", s.Data)
				}
			}
		}
		// A fragment in our layout must come back from Marshal as parsed.
		frag, ok := asFragment(info)
		if !ok {
			return
		}
		out, err := frag.Marshal()
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", frag, err)
		}
		info2, err := ParseFragment(out)
		if err != nil {
			t.Fatalf("ParseFragment(Marshal(x)): %v", err)
		}
		if want, _ := asFragment(info2); !reflect.DeepEqual(want, frag) {
			t.Fatalf("round trip changed the fragment:\n%+v\n%+v", frag, want)
		}
	})
}

// asFragment turns a parse result back into a Fragment when it has the
// shape Marshal writes: a non-empty video traf first, then maybe audio.
func asFragment(info FragmentInfo) (Fragment, bool) {
	f := Fragment{Seq: info.Seq}
	tr := info.Tracks
	if len(tr) == 0 || len(tr) > 2 || len(tr[0].Samples) == 0 {
		return f, false
	}
	if tr[0].TrackID == VideoTrackID {
		f.VideoDecodeTime, f.Video = tr[0].DecodeTime, tr[0].Samples
		tr = tr[1:]
	}
	if len(tr) == 1 {
		if tr[0].TrackID != AudioTrackID || len(tr[0].Samples) == 0 {
			return f, false
		}
		f.AudioDecodeTime, f.Audio = tr[0].DecodeTime, tr[0].Samples
		for _, s := range f.Audio {
			if !s.Keyframe {
				return f, false // audio is always sync on the way out
			}
		}
	}
	return f, len(tr) <= 1
}
