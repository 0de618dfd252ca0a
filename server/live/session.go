package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// viewer is one WHEP session: a peer connection with its own tracks, so
// each viewer starts at an IDR of its own (tracks shared by all viewers
// would hand a newcomer the middle of a GOP). Once attached, its fields
// are owned by the hub's goroutine.
type viewer struct {
	id        string
	recording string
	pc        *webrtc.PeerConnection
	video     *webrtc.TrackLocalStaticSample
	audio     *webrtc.TrackLocalStaticSample // nil: the recording or the offer has no audio
	created   time.Time
	started   bool // an IDR went out: from here every sample does
}

func (v *viewer) state() ViewerState {
	switch {
	case v.started:
		return ViewerPlaying
	case v.pc.ConnectionState() == webrtc.PeerConnectionStateConnected:
		return ViewerWaiting
	}
	return ViewerConnecting
}

// write sends one sample, or nothing until the viewer's first IDR after
// its connection is up. Pion binds an answerer's tracks as soon as the
// answer is set and drops, without an error, what is written before SRTP
// is ready, so only "connected" says an IDR will arrive. Video before the
// IDR cannot be decoded, and audio waits for it so both begin together.
func (v *viewer) write(s sample) error {
	if !v.started {
		if !s.video || !s.key || v.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
			return nil
		}
		v.started = true
	}
	t := v.video
	if !s.video {
		if t = v.audio; t == nil {
			return nil
		}
	}
	return t.WriteSample(media.Sample{Data: s.data, Duration: s.dur})
}

// answerTimeout bounds negotiation and ICE gathering for one offer.
const answerTimeout = 5 * time.Second

// maxOffer bounds an SDP offer; browsers send a few kilobytes.
const maxOffer = 64 << 10

// session is what a WHEP POST created.
type session struct {
	ID        string
	Recording string
	Answer    string
}

// newSession answers an SDP offer for a recording ("" for the current
// one) and attaches the new viewer to it. On error nothing is left behind.
// remote names the viewer in the log.
func (h *Hub) newSession(ctx context.Context, recording, offer, remote string) (session, error) {
	// A bad offer is the caller's fault whatever the hub's state.
	if err := (&sdp.SessionDescription{}).UnmarshalString(offer); err != nil {
		return session{}, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	var (
		id     string
		t      tracks
		refuse error
	)
	err := h.do(ctx, func() {
		s, err := h.lookup(recording)
		if err == nil && len(h.viewers) >= h.cfg.MaxViewers {
			err = fmt.Errorf("%w: %d", ErrTooManyViewers, h.cfg.MaxViewers)
		}
		if err != nil {
			refuse = err
			return
		}
		id, t = s.id, s.tracks
	})
	if err == nil {
		err = refuse
	}
	if err != nil {
		return session{}, err
	}

	v, answer, err := h.negotiate(ctx, id, t, offer)
	if err != nil {
		return session{}, err
	}
	err = h.do(ctx, func() {
		s, ok := h.streams[id]
		switch {
		case !ok:
			refuse = fmt.Errorf("%w: %s ended", ErrNotLive, id)
		case len(h.viewers) >= h.cfg.MaxViewers:
			refuse = fmt.Errorf("%w: %d", ErrTooManyViewers, h.cfg.MaxViewers)
		default:
			v.created = h.cfg.Now()
			s.viewers[v.id] = v
			h.viewers[v.id] = v
			h.log.Info("live: viewer joined", "id", id, "session", v.id, "remote", remote)
		}
	})
	if err == nil {
		err = refuse
	}
	if err != nil {
		_ = v.pc.Close()
		return session{}, err
	}
	return session{ID: v.id, Recording: id, Answer: answer}, nil
}

// endSession closes a viewer's session; false if there is none with that
// ID for that recording.
func (h *Hub) endSession(ctx context.Context, recording, id string) (bool, error) {
	found := false
	err := h.do(ctx, func() {
		if v, ok := h.viewers[id]; ok && v.recording == recording {
			found = true
			h.dropViewer(v, "session deleted")
		}
	})
	return found, err
}

// negotiate builds a peer connection that sends the recording's tracks in
// the codecs the offer accepts, and returns it with the complete answer
// (candidates included: WHEP without trickle).
func (h *Hub) negotiate(ctx context.Context, recording string, t tracks, offer string) (*viewer, string, error) {
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	video, audio, err := chooseCodecs(offer, t)
	if err != nil {
		return nil, "", err
	}
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(video, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, "", fmt.Errorf("live: register H.264: %w", err)
	}
	if audio != nil {
		if err := m.RegisterCodec(*audio, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, "", fmt.Errorf("live: register Opus: %w", err)
		}
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, "", fmt.Errorf("live: interceptors: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(h.settings), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("live: peer connection: %w", err)
	}
	v := &viewer{id: newSessionID(), recording: recording, pc: pc}
	fail := func(err error) (*viewer, string, error) {
		_ = pc.Close()
		return nil, "", err
	}
	streamID := "twincap-" + recording
	if v.video, err = webrtc.NewTrackLocalStaticSample(video.RTPCodecCapability, "video", streamID); err != nil {
		return fail(fmt.Errorf("live: video track: %w", err))
	}
	if err := addTrack(pc, v.video); err != nil {
		return fail(err)
	}
	if audio != nil {
		if v.audio, err = webrtc.NewTrackLocalStaticSample(audio.RTPCodecCapability, "audio", streamID); err != nil {
			return fail(fmt.Errorf("live: audio track: %w", err))
		}
		if err := addTrack(pc, v.audio); err != nil {
			return fail(err)
		}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrBadOffer, err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: answer: %w", ErrBadOffer, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("live: set answer: %w", err))
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(fmt.Errorf("live: gathering ICE candidates: %w", ctx.Err()))
	}
	return v, pc.LocalDescription().SDP, nil
}

// addTrack adds a send track and reads its RTCP, so that the interceptors
// see the viewer's NACKs and receiver reports.
func addTrack(pc *webrtc.PeerConnection, t webrtc.TrackLocal) error {
	sender, err := pc.AddTrack(t)
	if err != nil {
		return fmt.Errorf("live: add %s track: %w", t.Kind(), err)
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	return nil
}

func newSessionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// offered is one codec of an SDP media section.
type offered struct {
	pt        uint8
	name      string
	clock     uint32
	channels  string
	fmtp      string
	feedbacks []webrtc.RTCPFeedback
}

// offeredCodecs lists a media section's codecs in the offer's order of
// preference.
func offeredCodecs(md *sdp.MediaDescription) []offered {
	byPT := map[uint8]*offered{}
	var out []*offered
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			continue
		}
		if _, dup := byPT[uint8(pt)]; dup {
			continue
		}
		c := &offered{pt: uint8(pt)}
		byPT[c.pt] = c
		out = append(out, c)
	}
	for _, a := range md.Attributes {
		ptStr, rest, _ := strings.Cut(a.Value, " ")
		pt, err := strconv.ParseUint(ptStr, 10, 8)
		if err != nil {
			continue
		}
		c, ok := byPT[uint8(pt)]
		if !ok {
			continue
		}
		switch a.Key {
		case "rtpmap": // <encoding name>/<clock rate>[/<channels>]
			parts := strings.Split(strings.TrimSpace(rest), "/")
			c.name = parts[0]
			if len(parts) > 1 {
				if r, err := strconv.ParseUint(parts[1], 10, 32); err == nil {
					c.clock = uint32(r)
				}
			}
			if len(parts) > 2 {
				c.channels = parts[2]
			}
		case "fmtp":
			c.fmtp = strings.TrimSpace(rest)
		}
	}
	res := make([]offered, len(out))
	for i, c := range out {
		res[i] = *c
	}
	return res
}

// fmtpParam reads one parameter of an fmtp line.
func fmtpParam(line, key string) (string, bool) {
	for _, p := range strings.Split(line, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, key) {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// chooseCodecs picks, from the offer, the H.264 format that best fits the
// profile in the recording's avcC, and the Opus format for its audio (nil
// when there is no audio to send or the offer takes none). What is
// registered is the offer's own payload type and fmtp line, so pion
// matches it exactly (pion answers with the offer's line in any case).
func chooseCodecs(offerSDP string, t tracks) (webrtc.RTPCodecParameters, *webrtc.RTPCodecParameters, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offerSDP); err != nil {
		return webrtc.RTPCodecParameters{}, nil, fmt.Errorf("%w: %w", ErrBadOffer, err)
	}
	var video, audio *offered
	bestScore := -1
	for _, md := range sd.MediaDescriptions {
		switch md.MediaName.Media {
		case "video":
			for _, c := range offeredCodecs(md) {
				if !strings.EqualFold(c.name, "H264") || c.clock != videoClock {
					continue
				}
				if mode, _ := fmtpParam(c.fmtp, "packetization-mode"); mode != "1" {
					continue // mode 0 forbids the FU-A fragments every keyframe needs
				}
				if s := profileScore(c.fmtp, t.profile); s > bestScore {
					c := c
					video, bestScore = &c, s
				}
			}
		case "audio":
			if !t.audio || audio != nil {
				continue
			}
			for _, c := range offeredCodecs(md) {
				if strings.EqualFold(c.name, "opus") && c.clock == audioClock {
					c := c
					audio = &c
					break
				}
			}
		}
	}
	if video == nil {
		return webrtc.RTPCodecParameters{}, nil, fmt.Errorf("%w: no H.264 with packetization-mode=1 in a video section", ErrBadOffer)
	}
	v := webrtc.RTPCodecParameters{
		PayloadType:        webrtc.PayloadType(video.pt),
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: videoClock, SDPFmtpLine: video.fmtp},
	}
	if audio == nil {
		return v, nil, nil
	}
	fmtp := audio.fmtp
	if t.channels == 2 {
		if _, ok := fmtpParam(fmtp, "sprop-stereo"); !ok {
			fmtp = strings.TrimPrefix(fmtp+";sprop-stereo=1", ";")
		}
	}
	a := &webrtc.RTPCodecParameters{
		PayloadType:        webrtc.PayloadType(audio.pt),
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: audioClock, Channels: 2, SDPFmtpLine: fmtp},
	}
	return v, a, nil
}

// profileScore ranks an offered H.264 format for a stream of profile ours
// (profile-level-id hex): 3 the same profile and constraints (what pion
// itself would match), 2 the same profile, 1 a profile whose decoders
// decode ours, 0 anything else (software decoders often cope).
func profileScore(fmtp, ours string) int {
	theirs, _ := fmtpParam(fmtp, "profile-level-id")
	if theirs == "" {
		theirs = "42000a" // RFC 6184 8.1: the default is Baseline
	}
	a, errA := hex.DecodeString(theirs)
	b, errB := hex.DecodeString(ours)
	if errA != nil || errB != nil || len(a) != 3 || len(b) != 3 {
		return 0
	}
	switch {
	case a[0] == b[0] && a[1] == b[1]:
		return 3
	case a[0] == b[0]:
		return 2
	case decodes(a[0], b[0], b[1]):
		return 1
	}
	return 0
}

// decodes reports whether a decoder of profile theirs decodes a stream of
// profile ours with constraint flags: High decodes Main and Constrained
// Baseline, Main decodes Constrained Baseline (H.264 A.2).
func decodes(theirs, ours, constraints byte) bool {
	const baseline, mainP, high = 66, 77, 100
	constrainedBaseline := ours == baseline && constraints&0x40 != 0 || ours == mainP && constraints&0x80 != 0
	switch theirs {
	case high:
		return ours == mainP || constrainedBaseline
	case mainP:
		return constrainedBaseline
	}
	return false
}
