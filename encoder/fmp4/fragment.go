package fmp4

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
)

// Sample is one video access unit or one audio packet.
type Sample struct {
	Data     []byte // video: AVCC (length-prefixed) access unit; audio: one Opus packet
	Duration uint32 // in the track's timescale
	Keyframe bool   // video sync sample; audio samples are always sync
}

// Fragment is one media segment: the samples of each track for one span
// of time.
type Fragment struct {
	Seq             uint32 // mfhd sequence number (= segment seq)
	VideoDecodeTime uint64 // tfdt of track 1, in its timescale
	Video           []Sample
	AudioDecodeTime uint64   // tfdt of track 2
	Audio           []Sample // may be empty
}

// Sample flags (ISO/IEC 14496-12 8.8.3.1). A non-sync sample says both
// that it depends on others and that it is not a sync sample: players seek
// on the second, some decoders skip ahead on the first.
const (
	flagsSync    = 0x02000000 // sample_depends_on 2: depends on no other
	flagsNonSync = 0x01010000 // sample_depends_on 1, sample_is_non_sync_sample
	nonSyncBit   = 0x00010000
)

// tfhd and trun flags.
const (
	tfhdBaseDataOffset    = 0x000001
	tfhdSampleDescription = 0x000002
	tfhdDefaultDuration   = 0x000008
	tfhdDefaultSize       = 0x000010
	tfhdDefaultFlags      = 0x000020
	tfhdDefaultBaseIsMoof = 0x020000

	trunDataOffset       = 0x000001
	trunFirstSampleFlags = 0x000004
	trunDuration         = 0x000100
	trunSize             = 0x000200
	trunFlags            = 0x000400
	trunCompositionTime  = 0x000800
)

type trackSamples struct {
	id      uint32
	decode  uint64
	samples []Sample
	audio   bool
}

// Marshal returns one moof (mfhd, then a traf per non-empty track with
// tfhd, tfdt and trun) followed by one mdat holding the video samples,
// then the audio samples. It fails with ErrInvalidFragment for a fragment
// without samples, with an empty sample, or too large for 32-bit offsets.
func (f Fragment) Marshal() ([]byte, error) {
	var tracks []trackSamples
	if len(f.Video) > 0 {
		tracks = append(tracks, trackSamples{VideoTrackID, f.VideoDecodeTime, f.Video, false})
	}
	if len(f.Audio) > 0 {
		tracks = append(tracks, trackSamples{AudioTrackID, f.AudioDecodeTime, f.Audio, true})
	}
	if len(tracks) == 0 {
		return nil, fmt.Errorf("%w: %d: no samples", ErrInvalidFragment, f.Seq)
	}
	payload := 0
	for _, t := range tracks {
		for i, s := range t.samples {
			if len(s.Data) == 0 {
				// No H.264 access unit or Opus packet is empty; an
				// empty sample means the caller lost its data.
				return nil, fmt.Errorf("%w: %d: track %d sample %d is empty", ErrInvalidFragment, f.Seq, t.id, i)
			}
			payload += len(s.Data)
			// Data offsets in trun are signed 32-bit.
			if payload > math.MaxInt32/2 {
				return nil, fmt.Errorf("%w: %d: more than %d bytes", ErrInvalidFragment, f.Seq, math.MaxInt32/2)
			}
		}
	}

	w := &boxWriter{b: make([]byte, 0, payload+1024)}
	moof := w.begin("moof")
	mfhd := w.beginFull("mfhd", 0, 0)
	w.u32(f.Seq)
	w.end(mfhd)
	offsetAt := make([]int, len(tracks)) // where each trun's data_offset goes
	for i, t := range tracks {
		offsetAt[i] = writeTraf(w, t)
	}
	w.end(moof)

	mdat := w.begin("mdat")
	for i, t := range tracks {
		// default-base-is-moof: offsets count from the moof's first byte.
		binary.BigEndian.PutUint32(w.b[offsetAt[i]:], uint32(len(w.b)))
		for _, s := range t.samples {
			w.bytes(s.Data)
		}
	}
	w.end(mdat)
	return w.b, nil
}

func sampleFlags(s Sample, audio bool) uint32 {
	if audio || s.Keyframe {
		return flagsSync
	}
	return flagsNonSync
}

// writeTraf writes one track's traf and returns where its trun's
// data_offset is, to be filled in once the mdat's place is known.
//
// Values shared by all samples go into tfhd once rather than into every
// trun entry: a 1 s audio run is 50 packets of the same duration and
// flags, and a video run is one keyframe followed by non-sync frames.
func writeTraf(w *boxWriter, t trackSamples) int {
	sameDuration, restSameFlags := true, true
	for i, s := range t.samples {
		if s.Duration != t.samples[0].Duration {
			sameDuration = false
		}
		if i > 1 && sampleFlags(s, t.audio) != sampleFlags(t.samples[1], t.audio) {
			restSameFlags = false
		}
	}
	first := sampleFlags(t.samples[0], t.audio)
	defaultFlags := first
	if len(t.samples) > 1 {
		defaultFlags = sampleFlags(t.samples[1], t.audio)
	}

	traf := w.begin("traf")
	tfhdFlags := uint32(tfhdDefaultBaseIsMoof)
	if sameDuration {
		tfhdFlags |= tfhdDefaultDuration
	}
	if restSameFlags {
		tfhdFlags |= tfhdDefaultFlags
	}
	tfhd := w.beginFull("tfhd", 0, tfhdFlags)
	w.u32(t.id)
	if sameDuration {
		w.u32(t.samples[0].Duration)
	}
	if restSameFlags {
		w.u32(defaultFlags)
	}
	w.end(tfhd)

	tfdt := w.beginFull("tfdt", 1, 0)
	w.u64(t.decode)
	w.end(tfdt)

	trunFl := uint32(trunDataOffset | trunSize)
	if !sameDuration {
		trunFl |= trunDuration
	}
	switch {
	case !restSameFlags:
		trunFl |= trunFlags
	case first != defaultFlags:
		trunFl |= trunFirstSampleFlags
	}
	trun := w.beginFull("trun", 0, trunFl)
	w.u32(uint32(len(t.samples)))
	offsetAt := len(w.b)
	w.u32(0)
	if trunFl&trunFirstSampleFlags != 0 {
		w.u32(first)
	}
	for _, s := range t.samples {
		if trunFl&trunDuration != 0 {
			w.u32(s.Duration)
		}
		w.u32(uint32(len(s.Data)))
		if trunFl&trunFlags != 0 {
			w.u32(sampleFlags(s, t.audio))
		}
	}
	w.end(trun)
	w.end(traf)
	return offsetAt
}

// TrackRun is the samples of one traf.
type TrackRun struct {
	TrackID    uint32
	DecodeTime uint64   // tfdt; 0 if absent
	Samples    []Sample // Data slices into the parsed bytes
}

// FragmentInfo is what ParseFragment found.
type FragmentInfo struct {
	Seq    uint32
	Tracks []TrackRun // one per traf, in order
}

// ParseFragment reads a media segment: exactly one moof and the mdat(s)
// its samples are in; styp, sidx and other boxes around them are skipped.
// Every sample must lie inside an mdat. Defaults that only the init
// segment's trex holds are taken as zero duration and sync samples.
func ParseFragment(b []byte) (FragmentInfo, error) {
	var info FragmentInfo
	top, err := parseBoxes(b, 0)
	if err != nil {
		return info, err
	}
	var moof box
	var mdats []box
	moofs := 0
	for _, bx := range top {
		switch bx.typ {
		case "moof":
			moof = bx
			moofs++
		case "mdat":
			mdats = append(mdats, bx)
		}
	}
	if moofs != 1 {
		return info, fmt.Errorf("%w: %d moof boxes, want 1", ErrMalformed, moofs)
	}
	if len(mdats) == 0 {
		return info, fmt.Errorf("%w: no mdat", ErrMalformed)
	}
	kids, err := children(top, "moof", 0)
	if err != nil {
		return info, err
	}
	mfhd, ok := find(kids, "mfhd")
	if !ok {
		return info, fmt.Errorf("%w: moof without mfhd", ErrMalformed)
	}
	r := fieldReader{b: mfhd.body}
	r.full()
	info.Seq = r.u32()
	if r.err != nil {
		return info, fmt.Errorf("%w: mfhd: %w", ErrMalformed, r.err)
	}

	p := fragmentParser{b: b, moof: moof, mdats: mdats, dataEnd: moof.start}
	for _, bx := range kids {
		if bx.typ != "traf" {
			continue
		}
		run, err := p.traf(bx)
		if err != nil {
			return info, fmt.Errorf("%w: seq %d: %w", ErrMalformed, info.Seq, err)
		}
		info.Tracks = append(info.Tracks, run)
	}
	return info, nil
}

type fragmentParser struct {
	b       []byte
	moof    box
	mdats   []box
	dataEnd int   // end of the previous traf's data: the base when tfhd names none
	samples int64 // so far, against the bound in trun
}

type tfhdFields struct {
	flags                       uint32
	trackID                     uint32
	base                        uint64
	duration, size, sampleFlags uint32
}

func (p *fragmentParser) traf(traf box) (TrackRun, error) {
	var run TrackRun
	kids, err := parseBoxes(traf.body, 0)
	if err != nil {
		return run, err
	}
	tfhdBox, ok := find(kids, "tfhd")
	if !ok {
		return run, fmt.Errorf("traf without tfhd")
	}
	var h tfhdFields
	r := fieldReader{b: tfhdBox.body}
	_, h.flags = r.full()
	h.trackID = r.u32()
	if h.flags&tfhdBaseDataOffset != 0 {
		h.base = r.u64()
	}
	if h.flags&tfhdSampleDescription != 0 {
		r.u32()
	}
	if h.flags&tfhdDefaultDuration != 0 {
		h.duration = r.u32()
	}
	if h.flags&tfhdDefaultSize != 0 {
		h.size = r.u32()
	}
	if h.flags&tfhdDefaultFlags != 0 {
		h.sampleFlags = r.u32()
	}
	if r.err != nil {
		return run, fmt.Errorf("tfhd: %w", r.err)
	}
	run.TrackID = h.trackID

	if tfdt, ok := find(kids, "tfdt"); ok {
		r := fieldReader{b: tfdt.body}
		if v, _ := r.full(); v == 1 {
			run.DecodeTime = r.u64()
		} else {
			run.DecodeTime = uint64(r.u32())
		}
		if r.err != nil {
			return run, fmt.Errorf("track %d: tfdt: %w", h.trackID, r.err)
		}
	}

	var base int64
	switch {
	case h.flags&tfhdBaseDataOffset != 0:
		if h.base > uint64(len(p.b)) {
			return run, fmt.Errorf("track %d: base data offset %d past the end", h.trackID, h.base)
		}
		base = int64(h.base)
	case h.flags&tfhdDefaultBaseIsMoof != 0:
		base = int64(p.moof.start)
	default:
		base = int64(p.dataEnd)
	}
	next := base // where a trun without data_offset starts
	for _, bx := range kids {
		if bx.typ != "trun" {
			continue
		}
		next, err = p.trun(bx, h, base, next, &run)
		if err != nil {
			return run, fmt.Errorf("track %d: %w", h.trackID, err)
		}
	}
	p.dataEnd = int(next)
	return run, nil
}

// trun appends a trun's samples to run and returns where its data ends.
func (p *fragmentParser) trun(trun box, h tfhdFields, base, next int64, run *TrackRun) (int64, error) {
	r := fieldReader{b: trun.body}
	_, flags := r.full()
	count := r.u32()
	pos := next
	if flags&trunDataOffset != 0 {
		pos = base + int64(int32(r.u32()))
	}
	first, haveFirst := uint32(0), flags&trunFirstSampleFlags != 0
	if haveFirst {
		first = r.u32()
	}
	if r.err != nil {
		return 0, fmt.Errorf("trun: %w", r.err)
	}
	entry := 0
	for _, bit := range []uint32{trunDuration, trunSize, trunFlags, trunCompositionTime} {
		if flags&bit != 0 {
			entry += 4
		}
	}
	// Check the count against the bytes that must back it before
	// allocating: each sample has its table entry, and at least one byte
	// of data (Marshal writes no empty samples, and ParseFragment rejects
	// them below).
	if entry > 0 && uint64(count) > uint64(r.left()/entry) {
		return 0, fmt.Errorf("trun: %d samples in %d bytes", count, r.left())
	}
	p.samples += int64(count)
	if p.samples > int64(len(p.b)) {
		return 0, fmt.Errorf("trun: %d samples in a %d-byte segment", p.samples, len(p.b))
	}
	if flags&trunSize == 0 && h.flags&tfhdDefaultSize == 0 {
		return 0, fmt.Errorf("trun: no sample sizes")
	}
	run.Samples = slices.Grow(run.Samples, int(count))
	for i := range count {
		dur, size, sf := h.duration, h.size, h.sampleFlags
		if i == 0 && haveFirst {
			sf = first
		}
		if flags&trunDuration != 0 {
			dur = r.u32()
		}
		if flags&trunSize != 0 {
			size = r.u32()
		}
		if flags&trunFlags != 0 {
			sf = r.u32()
		}
		if flags&trunCompositionTime != 0 {
			r.u32() // pts - dts: Sample has no place for it, and we never write it
		}
		if r.err != nil {
			return 0, fmt.Errorf("trun sample %d: %w", i, r.err)
		}
		if size == 0 {
			return 0, fmt.Errorf("trun sample %d: empty", i)
		}
		end := pos + int64(size)
		if !p.inMdat(pos, end) {
			return 0, fmt.Errorf("trun sample %d: bytes %d-%d not inside an mdat", i, pos, end)
		}
		run.Samples = append(run.Samples, Sample{
			Data:     p.b[pos:end:end],
			Duration: dur,
			Keyframe: sf&nonSyncBit == 0,
		})
		pos = end
	}
	return pos, nil
}

// inMdat reports whether [start, end) lies inside one mdat's payload.
func (p *fragmentParser) inMdat(start, end int64) bool {
	for _, m := range p.mdats {
		payload := int64(m.end - len(m.body))
		if start >= payload && end <= int64(m.end) {
			return true
		}
	}
	return false
}
