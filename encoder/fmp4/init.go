package fmp4

import (
	"bytes"
	"errors"
	"fmt"
	"math"

	"twincap/encoder/h264"
)

// ErrInvalidTrack is returned by Init for a track description it cannot
// write.
var ErrInvalidTrack = errors.New("fmp4: invalid track")

// ErrInvalidFragment is returned by Fragment.Marshal for a fragment it
// cannot write.
var ErrInvalidFragment = errors.New("fmp4: invalid fragment")

// ErrMalformed is returned by ParseInit and ParseFragment for bytes that
// are not a segment this package can read.
var ErrMalformed = errors.New("fmp4: malformed segment")

// Track IDs and clocks are fixed: every recording has the same layout, so
// a reader never has to search for its tracks.
const (
	VideoTrackID = 1
	AudioTrackID = 2

	DefaultVideoTimescale = 90000
	// OpusTimescale is the audio track's clock. Opus always decodes at
	// 48 kHz, and the Opus mapping requires the sample entry to say so.
	OpusTimescale = 48000

	movieTimescale = 1000
)

// VideoTrack describes the H.264 track.
type VideoTrack struct {
	Width, Height int    // 0: taken from the SPS
	SPS, PPS      []byte // raw NAL units without start codes
	Timescale     uint32 // 90000 if zero
}

// AudioTrack describes the Opus track.
type AudioTrack struct {
	SampleRate uint32 // the input's rate before encoding (dOps InputSampleRate); 48000 if zero
	Channels   int    // 1 or 2
	PreSkip    uint16 // samples at 48 kHz the decoder drops at the start, e.g. 312
}

// Init returns the init segment, ftyp+moov: video is track 1, audio (if a
// is not nil) track 2 with timescale 48000.
func Init(v VideoTrack, a *AudioTrack) ([]byte, error) {
	sps, err := checkVideo(&v)
	if err != nil {
		return nil, err
	}
	if a != nil {
		ac := *a
		if ac.SampleRate == 0 {
			ac.SampleRate = OpusTimescale
		}
		if ac.Channels != 1 && ac.Channels != 2 {
			// Channel mapping family 0, the only one we write, has no
			// channel layout for more than two.
			return nil, fmt.Errorf("%w: audio: %d channels, want 1 or 2", ErrInvalidTrack, ac.Channels)
		}
		a = &ac
	}

	w := &boxWriter{b: make([]byte, 0, 1024)}
	ftyp := w.begin("ftyp")
	w.str("iso6")
	w.u32(0)
	// Not "cmfc": CMAF wants one track per fragment, and ours carry
	// video and audio together so that a segment is one self-contained
	// unit on the wire.
	for _, brand := range []string{"iso6", "isom", "iso2", "avc1", "mp41"} {
		w.str(brand)
	}
	w.end(ftyp)

	moov := w.begin("moov")
	mvhd := w.beginFull("mvhd", 0, 0)
	w.u32s(0, 0, movieTimescale, 0) // creation, modification, timescale, duration (unknown: fragmented)
	w.u32(0x00010000)               // rate 1.0
	w.u16(0x0100)                   // volume 1.0
	w.zeros(10)
	w.matrix()
	w.zeros(24)
	nextTrack := uint32(AudioTrackID)
	if a != nil {
		nextTrack++
	}
	w.u32(nextTrack)
	w.end(mvhd)

	writeVideoTrak(w, v, sps)
	if a != nil {
		writeAudioTrak(w, *a)
	}

	mvex := w.begin("mvex")
	writeTrex(w, VideoTrackID)
	if a != nil {
		writeTrex(w, AudioTrackID)
	}
	w.end(mvex)
	w.end(moov)
	return w.b, nil
}

// checkVideo fills defaults into v and checks it can be written.
func checkVideo(v *VideoTrack) (h264.SPS, error) {
	if h264.NALType(v.SPS) != h264.NALSPS {
		return h264.SPS{}, fmt.Errorf("%w: video: SPS is not an SPS NAL unit", ErrInvalidTrack)
	}
	if h264.NALType(v.PPS) != h264.NALPPS {
		return h264.SPS{}, fmt.Errorf("%w: video: PPS is not a PPS NAL unit", ErrInvalidTrack)
	}
	if len(v.SPS) > math.MaxUint16 || len(v.PPS) > math.MaxUint16 {
		return h264.SPS{}, fmt.Errorf("%w: video: parameter set too long for avcC", ErrInvalidTrack)
	}
	sps, err := h264.ParseSPS(v.SPS)
	if err != nil {
		return sps, fmt.Errorf("%w: video: %w", ErrInvalidTrack, err)
	}
	if v.Width == 0 && v.Height == 0 {
		v.Width, v.Height = sps.Width, sps.Height
	}
	if v.Width <= 0 || v.Height <= 0 || v.Width > math.MaxUint16 || v.Height > math.MaxUint16 {
		return sps, fmt.Errorf("%w: video: size %d×%d", ErrInvalidTrack, v.Width, v.Height)
	}
	if v.Timescale == 0 {
		v.Timescale = DefaultVideoTimescale
	}
	return sps, nil
}

func writeTkhd(w *boxWriter, id uint32, volume uint16, width, height int) {
	// flags: track enabled, in movie, in preview.
	tkhd := w.beginFull("tkhd", 0, 0x7)
	w.u32s(0, 0, id, 0, 0) // creation, modification, track_ID, reserved, duration
	w.zeros(8)
	w.u16(0) // layer
	w.u16(0) // alternate_group
	w.u16(volume)
	w.u16(0)
	w.matrix()
	w.u32(uint32(width) << 16) // 16.16 fixed point
	w.u32(uint32(height) << 16)
	w.end(tkhd)
}

func writeMdhd(w *boxWriter, timescale uint32) {
	mdhd := w.beginFull("mdhd", 0, 0)
	w.u32s(0, 0, timescale, 0)
	w.u16(0x55c4) // language "und", packed ISO-639-2/T
	w.u16(0)
	w.end(mdhd)
}

func writeHdlr(w *boxWriter, handler, name string) {
	hdlr := w.beginFull("hdlr", 0, 0)
	w.u32(0)
	w.str(handler)
	w.zeros(12)
	w.str(name)
	w.u8(0)
	w.end(hdlr)
}

// writeDinf says the media is in this file, the only place a fragment's
// mdat can be.
func writeDinf(w *boxWriter) {
	dinf := w.begin("dinf")
	dref := w.beginFull("dref", 0, 0)
	w.u32(1)
	url := w.beginFull("url ", 0, 1) // flag 1: self-contained
	w.end(url)
	w.end(dref)
	w.end(dinf)
}

// writeEmptyTables writes the sample tables a fragmented track still must
// have, with no samples: the samples are all in the fragments.
func writeEmptyTables(w *boxWriter) {
	for _, typ := range []string{"stts", "stsc", "stco"} {
		p := w.beginFull(typ, 0, 0)
		w.u32(0)
		w.end(p)
	}
	stsz := w.beginFull("stsz", 0, 0)
	w.u32s(0, 0)
	w.end(stsz)
}

func writeVideoTrak(w *boxWriter, v VideoTrack, sps h264.SPS) {
	trak := w.begin("trak")
	writeTkhd(w, VideoTrackID, 0, v.Width, v.Height)
	mdia := w.begin("mdia")
	writeMdhd(w, v.Timescale)
	writeHdlr(w, "vide", "VideoHandler")
	minf := w.begin("minf")
	vmhd := w.beginFull("vmhd", 0, 1) // flags 1 is required
	w.u16(0)                          // graphicsmode: copy
	w.zeros(6)                        // opcolor
	w.end(vmhd)
	writeDinf(w)
	stbl := w.begin("stbl")
	stsd := w.beginFull("stsd", 0, 0)
	w.u32(1)
	avc1 := w.begin("avc1")
	w.zeros(6)
	w.u16(1) // data_reference_index
	w.zeros(16)
	w.u16(uint16(v.Width))
	w.u16(uint16(v.Height))
	w.u32(0x00480000) // 72 dpi
	w.u32(0x00480000)
	w.u32(0)
	w.u16(1) // frame_count
	w.zeros(32)
	w.u16(0x0018) // depth: colour, no alpha
	w.u16(0xffff) // pre_defined -1
	writeAvcC(w, v, sps)
	w.end(avc1)
	w.end(stsd)
	writeEmptyTables(w)
	w.end(stbl)
	w.end(minf)
	w.end(mdia)
	w.end(trak)
}

// writeAvcC writes the AVCDecoderConfigurationRecord (ISO/IEC 14496-15
// 5.3.3.1).
func writeAvcC(w *boxWriter, v VideoTrack, sps h264.SPS) {
	avcC := w.begin("avcC")
	w.u8(1)
	w.u8(sps.ProfileIDC)
	w.u8(sps.ConstraintFlags)
	w.u8(sps.LevelIDC)
	w.u8(0xfc | 3) // lengthSizeMinusOne: samples use 4-byte lengths (h264.AVCC)
	w.u8(0xe0 | 1)
	w.u16(uint16(len(v.SPS)))
	w.bytes(v.SPS)
	w.u8(1)
	w.u16(uint16(len(v.PPS)))
	w.bytes(v.PPS)
	// The high profiles carry the chroma format and bit depths again. The
	// standard lists 100, 110, 122 and 144; FFmpeg writes them for every
	// profile but the three original ones, and readers of either kind
	// skip what they do not expect, so do as FFmpeg does.
	switch sps.ProfileIDC {
	case 66, 77, 88:
	default:
		w.u8(0xfc | byte(sps.ChromaFormatIDC))
		w.u8(0xf8 | byte(sps.BitDepthLumaMinus8))
		w.u8(0xf8 | byte(sps.BitDepthChromaMinus8))
		w.u8(0) // numOfSequenceParameterSetExt
	}
	w.end(avcC)
}

func writeAudioTrak(w *boxWriter, a AudioTrack) {
	trak := w.begin("trak")
	writeTkhd(w, AudioTrackID, 0x0100, 0, 0)
	mdia := w.begin("mdia")
	writeMdhd(w, OpusTimescale)
	writeHdlr(w, "soun", "SoundHandler")
	minf := w.begin("minf")
	smhd := w.beginFull("smhd", 0, 0)
	w.u16(0) // balance
	w.u16(0)
	w.end(smhd)
	writeDinf(w)
	stbl := w.begin("stbl")
	stsd := w.beginFull("stsd", 0, 0)
	w.u32(1)
	// Opus sample entry and dOps per "Encapsulation of Opus in ISO Base
	// Media File Format" (opus-codec.org), sections 4.3.1 and 4.3.2.
	opus := w.begin("Opus")
	w.zeros(6)
	w.u16(1) // data_reference_index
	w.zeros(8)
	w.u16(uint16(a.Channels))
	w.u16(16) // samplesize
	w.u16(0)
	w.u16(0)
	w.u32(OpusTimescale << 16)
	dOps := w.begin("dOps")
	w.u8(0) // Version
	w.u8(uint8(a.Channels))
	w.u16(a.PreSkip)
	w.u32(a.SampleRate)
	w.u16(0) // OutputGain
	w.u8(0)  // ChannelMappingFamily 0: mono or stereo, no table
	w.end(dOps)
	w.end(opus)
	w.end(stsd)
	writeEmptyTables(w)
	w.end(stbl)
	w.end(minf)
	w.end(mdia)
	w.end(trak)
}

// writeTrex gives each track defaults that every fragment overrides: the
// fragments carry their own durations, sizes and flags.
func writeTrex(w *boxWriter, id uint32) {
	trex := w.beginFull("trex", 0, 0)
	w.u32s(id, 1, 0, 0, 0)
	w.end(trex)
}

// InitInfo is what ParseInit found.
type InitInfo struct {
	Video  VideoTrack  // the first H.264 track
	Audio  *AudioTrack // the first Opus track; nil if there is none
	Tracks int         // all tracks, of any kind
}

// ParseInit reads an init segment: ftyp, then moov with an H.264 track
// and mvex. It fails with ErrMalformed unless it finds an H.264 video
// track.
func ParseInit(b []byte) (InitInfo, error) {
	var info InitInfo
	top, err := parseBoxes(b, 0)
	if err != nil {
		return info, err
	}
	if len(top) == 0 || top[0].typ != "ftyp" {
		return info, fmt.Errorf("%w: init segment does not start with ftyp", ErrMalformed)
	}
	moov, err := children(top, "moov", 0)
	if err != nil {
		return info, err
	}
	mvex, err := children(moov, "mvex", 0)
	if err != nil {
		return info, err
	}
	trex := map[uint32]bool{}
	for _, bx := range mvex {
		if bx.typ != "trex" {
			continue
		}
		r := fieldReader{b: bx.body}
		r.full()
		id := r.u32()
		if r.err != nil {
			return info, fmt.Errorf("%w: trex: %w", ErrMalformed, r.err)
		}
		trex[id] = true
	}

	haveVideo := false
	for _, bx := range moov {
		if bx.typ != "trak" {
			continue
		}
		info.Tracks++
		t, err := parseTrak(bx)
		if err != nil {
			return info, err
		}
		if !trex[t.id] {
			// Without trex a player will not look for the track in
			// fragments.
			return info, fmt.Errorf("%w: track %d has no trex", ErrMalformed, t.id)
		}
		switch {
		case t.video != nil && !haveVideo:
			info.Video, haveVideo = *t.video, true
		case t.audio != nil && info.Audio == nil:
			info.Audio = t.audio
		}
	}
	if !haveVideo {
		return info, fmt.Errorf("%w: no H.264 video track", ErrMalformed)
	}
	return info, nil
}

type parsedTrak struct {
	id    uint32
	video *VideoTrack
	audio *AudioTrack
}

func parseTrak(trak box) (parsedTrak, error) {
	var t parsedTrak
	boxes, err := parseBoxes(trak.body, 0)
	if err != nil {
		return t, err
	}
	tkhd, ok := find(boxes, "tkhd")
	if !ok {
		return t, fmt.Errorf("%w: trak without tkhd", ErrMalformed)
	}
	r := fieldReader{b: tkhd.body}
	if v, _ := r.full(); v == 1 {
		r.skip(16) // 64-bit creation and modification times
	} else {
		r.skip(8)
	}
	t.id = r.u32()
	if r.err != nil {
		return t, fmt.Errorf("%w: tkhd: %w", ErrMalformed, r.err)
	}

	mdia, err := children(boxes, "mdia", 0)
	if err != nil {
		return t, err
	}
	mdhd, ok := find(mdia, "mdhd")
	if !ok {
		return t, fmt.Errorf("%w: track %d: no mdhd", ErrMalformed, t.id)
	}
	r = fieldReader{b: mdhd.body}
	if v, _ := r.full(); v == 1 {
		r.skip(16)
	} else {
		r.skip(8)
	}
	timescale := r.u32()
	if r.err != nil {
		return t, fmt.Errorf("%w: track %d: mdhd: %w", ErrMalformed, t.id, r.err)
	}
	if timescale == 0 {
		return t, fmt.Errorf("%w: track %d: timescale 0", ErrMalformed, t.id)
	}
	minf, err := children(mdia, "minf", 0)
	if err != nil {
		return t, err
	}
	stbl, err := children(minf, "stbl", 0)
	if err != nil {
		return t, err
	}
	// stsd is a FullBox with an entry count before its entries.
	entries, err := children(stbl, "stsd", 8)
	if err != nil {
		return t, err
	}
	if len(entries) == 0 {
		return t, fmt.Errorf("%w: track %d: no sample entry", ErrMalformed, t.id)
	}
	e := entries[0]
	switch e.typ {
	case "avc1", "avc3":
		v, err := parseAVC1(e.body)
		if err != nil {
			return t, fmt.Errorf("%w: track %d: %w", ErrMalformed, t.id, err)
		}
		v.Timescale = timescale
		t.video = &v
	case "Opus":
		a, err := parseOpus(e.body)
		if err != nil {
			return t, fmt.Errorf("%w: track %d: %w", ErrMalformed, t.id, err)
		}
		t.audio = &a
	}
	return t, nil
}

// visualSampleEntrySize is the fixed part of a VisualSampleEntry before its
// child boxes; audioSampleEntrySize the same for an AudioSampleEntry.
const (
	visualSampleEntrySize = 78
	audioSampleEntrySize  = 28
)

func parseAVC1(body []byte) (VideoTrack, error) {
	var v VideoTrack
	if len(body) < visualSampleEntrySize {
		return v, fmt.Errorf("avc1: %w", errShort)
	}
	r := fieldReader{b: body}
	r.skip(24)
	v.Width, v.Height = int(r.u16()), int(r.u16())
	kids, err := parseBoxes(body[visualSampleEntrySize:], 0)
	if err != nil {
		return v, fmt.Errorf("avc1: %w", err)
	}
	avcC, ok := find(kids, "avcC")
	if !ok {
		return v, errors.New("avc1 without avcC")
	}
	r = fieldReader{b: avcC.body}
	if ver := r.u8(); ver != 1 {
		return v, fmt.Errorf("avcC version %d", ver)
	}
	r.skip(4) // profile, compatibility, level, length size
	for i := range r.u8() & 0x1f {
		sps := r.take(int(r.u16()))
		if i == 0 {
			v.SPS = bytes.Clone(sps)
		}
	}
	for i := range r.u8() {
		pps := r.take(int(r.u16()))
		if i == 0 {
			v.PPS = bytes.Clone(pps)
		}
	}
	if r.err != nil {
		return v, fmt.Errorf("avcC: %w", r.err)
	}
	if v.SPS == nil || v.PPS == nil {
		return v, errors.New("avcC without SPS or PPS")
	}
	// A decoder starts from these two; a server should know they are
	// usable before it stores a recording that depends on them.
	if _, err := h264.ParseSPS(v.SPS); err != nil {
		return v, fmt.Errorf("avcC: %w", err)
	}
	if h264.NALType(v.PPS) != h264.NALPPS {
		return v, fmt.Errorf("avcC: PPS has NAL type %d", h264.NALType(v.PPS))
	}
	return v, nil
}

func parseOpus(body []byte) (AudioTrack, error) {
	var a AudioTrack
	if len(body) < audioSampleEntrySize {
		return a, fmt.Errorf("Opus: %w", errShort)
	}
	kids, err := parseBoxes(body[audioSampleEntrySize:], 0)
	if err != nil {
		return a, fmt.Errorf("Opus: %w", err)
	}
	dOps, ok := find(kids, "dOps")
	if !ok {
		return a, errors.New("Opus without dOps")
	}
	r := fieldReader{b: dOps.body}
	if ver := r.u8(); ver != 0 {
		return a, fmt.Errorf("dOps version %d", ver)
	}
	a.Channels = int(r.u8())
	a.PreSkip = r.u16()
	a.SampleRate = r.u32()
	r.skip(3) // OutputGain, ChannelMappingFamily
	if r.err != nil {
		return a, fmt.Errorf("dOps: %w", r.err)
	}
	if a.Channels == 0 {
		return a, errors.New("dOps: 0 channels")
	}
	return a, nil
}
