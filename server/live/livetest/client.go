package livetest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"twincap/encoder/h264"
)

// DefaultH264 is what Dial offers for video unless told otherwise, in the
// order a browser prefers them: Constrained Baseline, High, and a
// packetization-mode=0 format the server must not pick.
var DefaultH264 = []string{
	"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	"level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
	"level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
}

// ClientConfig configures Dial.
type ClientConfig struct {
	URL        string       // the WHEP endpoint
	Header     http.Header  // sent with the POST and the DELETE, e.g. Authorization
	HTTPClient *http.Client // nil: http.DefaultClient
	H264       []string     // fmtp lines offered for H.264; nil: DefaultH264
	NoAudio    bool         // offer no audio section
}

// Frame is one video access unit as received.
type Frame struct {
	Arrived  time.Time // when its last packet arrived
	First    time.Time // when its first packet arrived
	RTPTime  uint32
	NALTypes []byte
	Size     int
}

// Keyframe reports whether the frame holds an IDR slice.
func (f Frame) Keyframe() bool {
	for _, t := range f.NALTypes {
		if t == h264.NALIDR {
			return true
		}
	}
	return false
}

// Packet is one audio RTP packet as received.
type Packet struct {
	Arrived time.Time
	RTPTime uint32
	Size    int
}

// HTTPError is a WHEP reply other than the one expected.
type HTTPError struct {
	Status int
	Header http.Header
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("livetest: HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Client is one WHEP viewer.
type Client struct {
	Resource string // the session's URL (from Location)
	Answer   string // the server's SDP answer

	cfg ClientConfig
	pc  *webrtc.PeerConnection

	mu      sync.Mutex
	frames  []Frame
	audio   []Packet
	changed chan struct{} // closed and replaced on every new frame or packet
	closed  bool
	readers sync.WaitGroup
}

// LoopbackSettings restrict ICE to host candidates on 127.0.0.1, with no
// STUN and no mDNS.
func LoopbackSettings() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return se
}

// Dial offers to receive video (and audio) from a WHEP endpoint. The error
// is an *HTTPError when the server answers other than 201 Created.
func Dial(ctx context.Context, cfg ClientConfig) (*Client, error) {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.H264 == nil {
		cfg.H264 = DefaultH264
	}
	m := &webrtc.MediaEngine{}
	for i, fmtp := range cfg.H264 {
		err := m.RegisterCodec(webrtc.RTPCodecParameters{
			PayloadType:        webrtc.PayloadType(102 + i),
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp},
		}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return nil, err
		}
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{
		PayloadType:        111,
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(LoopbackSettings()), webrtc.WithInterceptorRegistry(ir))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, pc: pc, changed: make(chan struct{})}
	fail := func(err error) (*Client, error) {
		_ = c.Close()
		return nil, err
	}
	recv := webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, recv); err != nil {
		return fail(err)
	}
	if !cfg.NoAudio {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio, recv); err != nil {
			return fail(err)
		}
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed {
			return
		}
		c.readers.Add(1)
		go func() {
			defer c.readers.Done()
			if t.Kind() == webrtc.RTPCodecTypeVideo {
				c.readVideo(t)
			} else {
				c.readAudio(t)
			}
		}()
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return fail(err)
	}
	for k, v := range cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/sdp")
	res, err := cfg.HTTPClient.Do(req)
	if err != nil {
		return fail(err)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	res.Body.Close()
	if err != nil {
		return fail(err)
	}
	if res.StatusCode != http.StatusCreated {
		return fail(&HTTPError{Status: res.StatusCode, Header: res.Header, Body: string(body)})
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/sdp" {
		return fail(fmt.Errorf("livetest: answer has Content-Type %q", ct))
	}
	loc, err := res.Location()
	if err != nil {
		return fail(fmt.Errorf("livetest: answer without a usable Location: %w", err))
	}
	c.Resource, c.Answer = loc.String(), string(body)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: c.Answer}); err != nil {
		return fail(err)
	}
	return c, nil
}

func (c *Client) readVideo(t *webrtc.TrackRemote) {
	var dep codecs.H264Packet
	var au []byte
	var first time.Time
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		now := time.Now()
		if len(au) == 0 {
			first = now
		}
		if nal, err := dep.Unmarshal(p.Payload); err == nil {
			au = append(au, nal...)
		}
		if !p.Marker {
			continue
		}
		f := Frame{Arrived: now, First: first, RTPTime: p.Timestamp, Size: len(au)}
		for _, n := range h264.SplitAnnexB(au) {
			f.NALTypes = append(f.NALTypes, h264.NALType(n))
		}
		au = au[:0]
		c.mu.Lock()
		c.frames = append(c.frames, f)
		c.notifyLocked()
		c.mu.Unlock()
	}
}

func (c *Client) readAudio(t *webrtc.TrackRemote) {
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		c.mu.Lock()
		c.audio = append(c.audio, Packet{Arrived: time.Now(), RTPTime: p.Timestamp, Size: len(p.Payload)})
		c.notifyLocked()
		c.mu.Unlock()
	}
}

func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Frames returns the video frames received so far.
func (c *Client) Frames() []Frame {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Frame(nil), c.frames...)
}

// Audio returns the audio packets received so far.
func (c *Client) Audio() []Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Packet(nil), c.audio...)
}

// WaitFrames waits until n video frames have arrived.
func (c *Client) WaitFrames(ctx context.Context, n int) ([]Frame, error) {
	return wait(ctx, c, func() ([]Frame, bool) { return c.frames, len(c.frames) >= n })
}

// WaitAudio waits until n audio packets have arrived.
func (c *Client) WaitAudio(ctx context.Context, n int) ([]Packet, error) {
	return wait(ctx, c, func() ([]Packet, bool) { return c.audio, len(c.audio) >= n })
}

// WaitKeyframes waits until n keyframes have arrived and returns them.
func (c *Client) WaitKeyframes(ctx context.Context, n int) ([]Frame, error) {
	return wait(ctx, c, func() ([]Frame, bool) {
		var keys []Frame
		for _, f := range c.frames {
			if f.Keyframe() {
				keys = append(keys, f)
			}
		}
		return keys, len(keys) >= n
	})
}

func wait[T any](ctx context.Context, c *Client, done func() ([]T, bool)) ([]T, error) {
	for {
		c.mu.Lock()
		got, ok := done()
		got = append([]T(nil), got...)
		changed := c.changed
		c.mu.Unlock()
		if ok {
			return got, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return got, fmt.Errorf("livetest: waiting: %w (have %d)", ctx.Err(), len(got))
		}
	}
}

// WaitConnected waits until the peer connection is connected.
func (c *Client) WaitConnected(ctx context.Context) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for c.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("livetest: connecting: %w (state %s)", ctx.Err(), c.pc.ConnectionState())
		}
	}
	return nil
}

// State is the peer connection's state.
func (c *Client) State() webrtc.PeerConnectionState { return c.pc.ConnectionState() }

// Delete ends the session on the server (HTTP DELETE on Resource) and
// returns the status code.
func (c *Client) Delete(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, c.Resource, nil)
	if err != nil {
		return 0, err
	}
	for k, v := range c.cfg.Header {
		req.Header[k] = v
	}
	res, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// Close closes the peer connection (without telling the server) and waits
// for the readers.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	err := c.pc.Close()
	c.readers.Wait()
	return err
}
