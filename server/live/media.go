package live

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"twincap/encoder/fmp4"
	"twincap/encoder/h264"
)

// ErrMalformed is wrapped by what the parse path reports for segment bytes
// it cannot play. Publish logs such segments and drops them; the store
// has them anyway.
var ErrMalformed = errors.New("live: malformed segment")

// RTP clocks of the two tracks (RFC 6184 and RFC 7587 fix them).
const (
	videoClock = 90000
	audioClock = 48000
)

// maxMediaTime bounds a sample's media time: far beyond any interview,
// far below where nanoseconds overflow an int64.
const maxMediaTime = 1000 * 24 * time.Hour

// maxAudioPacket is the largest Opus packet sent: it must fit one RTP
// packet, since the Opus payloader does not fragment. A 20 ms frame is at
// most 1275 bytes (RFC 6716 3.2.1).
const maxAudioPacket = 1275

// tracks is what the init segment says about a recording.
type tracks struct {
	sps, pps      []byte // raw NAL units, no start codes
	profile       string // profile-level-id: hex of the SPS's profile, constraints and level
	width, height int
	videoScale    uint32 // media ticks per second of the video track
	audio         bool   // an Opus track is present
	channels      int
}

// codecName is the RFC 6381 name of the video, as browsers print it.
func (t tracks) codecName() string { return "avc1." + t.profile }

func parseInit(b []byte) (tracks, error) {
	info, err := fmp4.ParseInit(b)
	if err != nil {
		return tracks{}, fmt.Errorf("%w: init: %w", ErrMalformed, err)
	}
	v := info.Video
	t := tracks{
		sps:        v.SPS,
		pps:        v.PPS,
		profile:    hex.EncodeToString(v.SPS[1:4]), // ParseInit checked the SPS parses, so it has these
		width:      v.Width,
		height:     v.Height,
		videoScale: v.Timescale,
	}
	if a := info.Audio; a != nil && (a.Channels == 1 || a.Channels == 2) {
		t.audio, t.channels = true, a.Channels
	}
	return t, nil
}

// sample is one unit for a track, in the form pion's payloaders take.
type sample struct {
	video bool
	key   bool          // video: an IDR access unit, parameter sets in front
	data  []byte        // video: Annex-B access unit; audio: one Opus packet
	at    time.Duration // media time of its start (decode time; pts == dts)
	dur   time.Duration // converts back to exactly rtpTicks in pion (see rtpDuration)
	ticks uint32        // duration at the RTP clock
}

// fragment is the samples of one moof+mdat in playing order.
type fragment struct {
	samples []sample
	start   time.Duration // media time of the first video sample (or of the first sample)
	key     bool          // starts with an IDR: a viewer can join, the queue can be cut here
}

// parseSegment splits a media segment into its moof+mdat fragments (one
// today; several when the box cuts CMAF chunks) and parses each.
func parseSegment(t tracks, b []byte) ([]fragment, error) {
	chunks, err := splitFragments(b)
	if err != nil {
		return nil, err
	}
	out := make([]fragment, 0, len(chunks))
	for _, c := range chunks {
		f, err := parseFragment(t, c)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// splitFragments cuts a segment at each top-level moof: every piece is one
// moof with the boxes after it up to the next moof (its mdat). Boxes before
// the first moof (styp, sidx, prft) stay with the first piece. Box sizes
// are checked before slicing, so hostile sizes cannot reach past b.
func splitFragments(b []byte) ([][]byte, error) {
	var starts []int
	for off := 0; off < len(b); {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("%w: %d stray bytes at %d", ErrMalformed, len(b)-off, off)
		}
		size := uint64(binary.BigEndian.Uint32(b[off:]))
		hdr := uint64(8)
		switch size {
		case 0:
			size = uint64(len(b) - off)
		case 1:
			if len(b)-off < 16 {
				return nil, fmt.Errorf("%w: truncated large size at %d", ErrMalformed, off)
			}
			size, hdr = binary.BigEndian.Uint64(b[off+8:]), 16
		}
		if size < hdr || size > uint64(len(b)-off) {
			return nil, fmt.Errorf("%w: box at %d: size %d, %d bytes left", ErrMalformed, off, size, len(b)-off)
		}
		if string(b[off+4:off+8]) == "moof" {
			starts = append(starts, off)
		}
		off += int(size)
	}
	if len(starts) == 0 {
		return nil, fmt.Errorf("%w: no moof", ErrMalformed)
	}
	starts[0] = 0
	pieces := make([][]byte, len(starts))
	for i, s := range starts {
		end := len(b)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		pieces[i] = b[s:end:end]
	}
	return pieces, nil
}

// parseFragment turns one moof+mdat into samples sorted by media time:
// video access units in Annex-B with SPS and PPS in front of every IDR
// (a viewer can start at any of them), and Opus packets.
func parseFragment(t tracks, b []byte) (fragment, error) {
	var f fragment
	info, err := fmp4.ParseFragment(b)
	if err != nil {
		return f, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	haveVideo := false
	for _, run := range info.Tracks {
		var scale, clock uint32
		switch {
		case run.TrackID == fmp4.VideoTrackID:
			scale, clock = t.videoScale, videoClock
		case run.TrackID == fmp4.AudioTrackID && t.audio:
			scale, clock = fmp4.OpusTimescale, audioClock
		default:
			continue // a track the init did not announce, or audio without an Opus track
		}
		video := run.TrackID == fmp4.VideoTrackID
		pos := run.DecodeTime
		for i, s := range run.Samples {
			end := pos + uint64(s.Duration)
			at, ok1 := mediaTime(pos, scale)
			r0, ok2 := rescale(pos, scale, clock)
			r1, ok3 := rescale(end, scale, clock)
			if end < pos || !ok1 || !ok2 || !ok3 || r1-r0 > math.MaxUint32 {
				return f, fmt.Errorf("%w: track %d sample %d: media time out of range", ErrMalformed, run.TrackID, i)
			}
			pos = end
			ticks := uint32(r1 - r0)
			out := sample{video: video, at: at, ticks: ticks, dur: rtpDuration(ticks, clock)}
			if video {
				out.data, out.key, err = annexB(t, s.Data)
				if err != nil {
					return f, fmt.Errorf("%w: track %d sample %d: %w", ErrMalformed, run.TrackID, i, err)
				}
				if !haveVideo {
					haveVideo, f.start, f.key = true, at, out.key
				}
			} else {
				if len(s.Data) > maxAudioPacket {
					continue // cannot travel as one RTP packet; the decoder conceals the gap
				}
				out.data = s.Data
			}
			f.samples = append(f.samples, out)
		}
	}
	if len(f.samples) == 0 {
		return f, fmt.Errorf("%w: no samples to play", ErrMalformed)
	}
	// Stable: each track's samples keep their order even at equal times.
	slices.SortStableFunc(f.samples, func(a, b sample) int { return cmp.Compare(a.at, b.at) })
	if !haveVideo {
		f.start = f.samples[0].at
	}
	return f, nil
}

// annexB converts one AVCC (4-byte length-prefixed) access unit into the
// Annex-B form pion's H.264 payloader splits at start codes. An IDR starts
// with its parameter sets, its own or else the init segment's SPS and PPS,
// so a decoder can start there. Delimiters are dropped (the payloader
// would).
func annexB(t tracks, avcc []byte) ([]byte, bool, error) {
	nalus, err := h264.SplitAVCC(avcc)
	if err != nil {
		return nil, false, err
	}
	key := false
	var sps, pps [][]byte
	n := 0
	for _, u := range nalus {
		switch h264.NALType(u) {
		case h264.NALIDR:
			key = true
		case h264.NALSPS:
			sps = append(sps, u)
		case h264.NALPPS:
			pps = append(pps, u)
		}
		n += 4 + len(u)
	}
	params := false
	if key {
		if len(sps) == 0 {
			sps = [][]byte{t.sps}
			n += 4 + len(t.sps)
		}
		if len(pps) == 0 {
			pps = [][]byte{t.pps}
			n += 4 + len(t.pps)
		}
		params = true
	}
	out := make([]byte, 0, n)
	if params {
		for _, u := range append(sps, pps...) {
			out = appendNALU(out, u)
		}
	}
	for _, u := range nalus {
		switch ty := h264.NALType(u); {
		case len(u) == 0 || ty == h264.NALAUD:
			continue
		case params && (ty == h264.NALSPS || ty == h264.NALPPS):
			continue // already in front
		}
		out = appendNALU(out, u)
	}
	if len(out) == 0 {
		return nil, false, errors.New("access unit without NAL units")
	}
	return out, key, nil
}

func appendNALU(b, nalu []byte) []byte {
	return append(append(b, 0, 0, 0, 1), nalu...)
}

// rescale converts t ticks at rate from to rate to, rounding down, without
// overflowing; false if the result does not fit in 63 bits.
func rescale(t uint64, from, to uint32) (uint64, bool) {
	if from == 0 {
		return 0, false
	}
	hi, lo := bits.Mul64(t, uint64(to))
	if hi >= uint64(from) {
		return 0, false
	}
	q, _ := bits.Div64(hi, lo, uint64(from))
	return q, q <= math.MaxInt64
}

// mediaTime is t ticks at rate scale as a duration, if below maxMediaTime.
func mediaTime(t uint64, scale uint32) (time.Duration, bool) {
	ns, ok := rescale(t, scale, uint32(time.Second))
	if !ok || ns > uint64(maxMediaTime) {
		return 0, false
	}
	return time.Duration(ns), true
}

// rtpDuration is the shortest duration from which pion's
// TrackLocalStaticSample (uint32(d.Seconds() * clock)) computes exactly
// ticks. Rounding the other way would lose a tick per frame at 30 fps
// (33.333 ms), and the video clock would drift from the audio's.
func rtpDuration(ticks uint32, clock uint32) time.Duration {
	d := time.Duration((uint64(ticks)*uint64(time.Second) + uint64(clock) - 1) / uint64(clock))
	for range 4 {
		if uint32(d.Seconds()*float64(clock)) >= ticks {
			break
		}
		d++
	}
	return d
}
