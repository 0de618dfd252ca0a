package live

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"twincap/encoder/segment"
)

// Sentinel errors the WHEP handler maps to status codes.
var (
	ErrNotLive        = errors.New("live: recording is not live")
	ErrTooManyViewers = errors.New("live: too many viewers")
	ErrBadOffer       = errors.New("live: unusable SDP offer")
	ErrClosed         = errors.New("live: hub stopped")
)

// Defaults for zero Config fields.
const (
	DefaultMaxViewers     = 16
	DefaultMaxLag         = 300 * time.Millisecond
	DefaultIdleTimeout    = 30 * time.Second
	DefaultConnectTimeout = 15 * time.Second
)

// publishQueue is how many Publish calls may wait for the hub before
// further ones are dropped from the live view.
const publishQueue = 64

// sweepInterval is how often viewers whose connection failed, and streams
// that went quiet, are looked for.
const sweepInterval = 500 * time.Millisecond

// endedMemory is how many explicitly ended recordings are remembered, so
// that a late retry of one of their segments does not make them live again.
const endedMemory = 256

// Config configures a Hub. Zero fields take the defaults.
type Config struct {
	// HostIPs are the local addresses offered to viewers as ICE host
	// candidates (no STUN, no TURN, no mDNS: viewers are on the room's
	// network). Empty: every address of every interface that is up,
	// loopback excluded. Tests use 127.0.0.1.
	HostIPs []netip.Addr
	// UDPPortMin and UDPPortMax bound the UDP ports ICE listens on, so a
	// firewall can open them; both 0: any port.
	UDPPortMin, UDPPortMax uint16
	// MaxViewers bounds the viewers of all recordings together.
	MaxViewers int
	// MaxLag is how far behind the live edge playout may fall before the
	// queue is cut at the next IDR (see schedule).
	MaxLag time.Duration
	// IdleTimeout ends a recording's live stream when no segment came for
	// this long (the box lost this server, or stopped without End).
	IdleTimeout time.Duration
	// ConnectTimeout drops a viewer whose connection is not up by then.
	ConnectTimeout time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxViewers == 0 {
		c.MaxViewers = DefaultMaxViewers
	}
	if c.MaxLag == 0 {
		c.MaxLag = DefaultMaxLag
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	for _, a := range c.HostIPs {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			errs = append(errs, fmt.Errorf("live: host IP %v cannot be a host candidate", a))
		}
	}
	if c.UDPPortMin > c.UDPPortMax || (c.UDPPortMin == 0) != (c.UDPPortMax == 0) {
		errs = append(errs, fmt.Errorf("live: UDP port range %d-%d", c.UDPPortMin, c.UDPPortMax))
	}
	if c.MaxViewers < 0 {
		errs = append(errs, fmt.Errorf("live: MaxViewers %d", c.MaxViewers))
	}
	if c.MaxLag < 0 || c.IdleTimeout < 0 || c.ConnectTimeout < 0 {
		errs = append(errs, errors.New("live: negative duration"))
	}
	return errors.Join(errs...)
}

// Hub turns the segments a server receives into live WebRTC streams, one
// per recording. Build it with New, run it with Run, feed it with Publish
// and End, and serve viewers with NewWHEP.
type Hub struct {
	cfg      Config
	log      *slog.Logger
	settings webrtc.SettingEngine

	reqs     chan func() // run by Run's goroutine, which owns everything below
	done     chan struct{}
	started  atomic.Bool
	overflow atomic.Uint64 // Publish calls dropped because reqs was full
	closing  sync.WaitGroup

	// Owned by Run's goroutine.
	streams map[string]*stream
	viewers map[string]*viewer // by session ID
	ended   map[string]bool
	endedQ  []string
}

// stream is one recording's live state.
type stream struct {
	id       string
	tracks   tracks
	haveInit bool

	newest    position
	haveMedia bool
	fromPart  bool // newest came from PublishPart: its segment may follow whole

	since, lastSegment time.Time
	sched              schedule
	viewers            map[string]*viewer

	published, ignored, malformed, dropped, writeErrors uint64
}

// position orders what Publish and PublishPart are given. Part is 0 for a
// whole segment, and numbers the chunks of one segment from 0.
type position struct {
	seq  uint64
	part uint32
}

func (p position) less(q position) bool {
	return p.seq < q.seq || p.seq == q.seq && p.part < q.part
}

// New checks cfg and builds a hub. log may be nil.
func New(cfg Config, log *slog.Logger) (*Hub, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		cfg:     cfg,
		log:     log,
		reqs:    make(chan func(), publishQueue),
		done:    make(chan struct{}),
		streams: map[string]*stream{},
		viewers: map[string]*viewer{},
		ended:   map[string]bool{},
	}
	if err := h.configureICE(); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Hub) configureICE() error {
	se := &h.settings
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A viewer that went away without DELETE is noticed in seconds. The
	// viewer page does not wait for these: it fails over after a second
	// without frames.
	se.SetICETimeouts(3*time.Second, 6*time.Second, time.Second)
	if c := h.cfg; c.UDPPortMin != 0 {
		if err := se.SetEphemeralUDPPortRange(c.UDPPortMin, c.UDPPortMax); err != nil {
			return fmt.Errorf("live: UDP ports: %w", err)
		}
	}
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6}
	if ips := h.cfg.HostIPs; len(ips) > 0 {
		allowed := make([]netip.Addr, len(ips))
		loopback, v4, v6 := false, false, false
		for i, a := range ips {
			allowed[i] = a.Unmap()
			loopback = loopback || a.IsLoopback()
			v4 = v4 || allowed[i].Is4()
			v6 = v6 || allowed[i].Is6()
		}
		types = types[:0]
		if v4 {
			types = append(types, webrtc.NetworkTypeUDP4)
		}
		if v6 {
			types = append(types, webrtc.NetworkTypeUDP6)
		}
		se.SetIncludeLoopbackCandidate(loopback)
		se.SetIPFilter(func(ip net.IP) bool {
			a, ok := netip.AddrFromSlice(ip)
			return ok && slices.Contains(allowed, a.Unmap())
		})
	}
	se.SetNetworkTypes(types)
	return nil
}

// Run owns the live streams until ctx ends; then it closes every viewer's
// connection and returns nil. Call it once.
func (h *Hub) Run(ctx context.Context) error {
	if !h.started.CompareAndSwap(false, true) {
		return errors.New("live: Run called twice")
	}
	defer close(h.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sweep := time.NewTicker(sweepInterval)
	defer sweep.Stop()
	for {
		h.writeDue()
		if next, ok := h.nextDue(); ok {
			timer.Reset(max(0, next.Sub(h.cfg.Now())))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			for _, st := range h.streams {
				h.endStream(st, "server stopping")
			}
			h.closing.Wait()
			return nil
		case f := <-h.reqs:
			f()
		case <-timer.C:
		case <-sweep.C:
			h.sweep()
		}
	}
}

// do runs f on the hub's goroutine and waits for it.
func (h *Hub) do(ctx context.Context, f func()) error {
	ran := make(chan struct{})
	select {
	case h.reqs <- func() { f(); close(ran) }:
	case <-h.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-h.done:
		// Run may have returned with the request still queued.
		select {
		case <-ran:
			return nil
		default:
			return ErrClosed
		}
	}
}

// Publish hands the hub segment seq of a recording, right after the server
// stored it durably: seq 0 is the init segment, later ones moof+mdat. It
// never blocks the ingest path: if the hub is behind, the segment is left
// out of the live view (and counted). Segments at or before the newest one
// published are ignored: during a backfill only the live edge matters. The
// hub keeps body; the caller must not change it afterwards.
func (h *Hub) Publish(recordingID string, seq uint64, body []byte) {
	h.publishAt(recordingID, position{seq: seq}, body, true)
}

// PublishPart hands the hub one CMAF chunk (a moof+mdat) of media
// segment seq as the server receives it, before the segment is complete
// or stored: part 0 starts with the segment's IDR, later parts follow in
// order. It lets viewers see a frame a chunk after its capture instead of
// a segment. The segment's own Publish, once it is durable, is then at or
// before the newest position and ignored. Like Publish it never blocks,
// and the hub keeps body.
func (h *Hub) PublishPart(recordingID string, seq uint64, part uint32, body []byte) {
	h.publishAt(recordingID, position{seq: seq, part: part}, body, false)
}

// publishAt queues body at pos; whole: body is a whole segment (Publish),
// not one chunk of it.
func (h *Hub) publishAt(id string, pos position, body []byte, whole bool) {
	select {
	case h.reqs <- func() { h.publish(id, pos, body, whole) }:
	default:
		h.overflow.Add(1)
	}
}

// End ends a recording's live stream (stopped or cancelled): its viewers'
// connections close and the recording is not live again. It waits for
// the hub's goroutine, so Run must be running (or have returned).
func (h *Hub) End(recordingID string) {
	_ = h.do(context.Background(), func() {
		if st, ok := h.streams[recordingID]; ok {
			h.endStream(st, "recording ended")
		}
		h.rememberEnded(recordingID)
	})
}

func (h *Hub) rememberEnded(id string) {
	if h.ended[id] {
		return
	}
	if len(h.endedQ) >= endedMemory {
		delete(h.ended, h.endedQ[0])
		h.endedQ = h.endedQ[1:]
	}
	h.ended[id] = true
	h.endedQ = append(h.endedQ, id)
}

func (h *Hub) publish(id string, pos position, body []byte, whole bool) {
	if h.ended[id] {
		return
	}
	now := h.cfg.Now()
	st, ok := h.streams[id]
	if !ok {
		st = &stream{id: id, since: now, viewers: map[string]*viewer{}, sched: schedule{maxLag: h.cfg.MaxLag}}
		h.streams[id] = st
	}
	st.lastSegment = now
	if pos.seq == segment.InitSeq {
		t, err := parseInit(body)
		if err != nil {
			st.malformed++
			h.log.Warn("live: init segment not playable", "id", id, "err", err)
			return
		}
		// Viewers keep what they negotiated; a changed SPS or PPS reaches
		// their decoders in front of the next IDR.
		st.tracks, st.haveInit = t, true
		return
	}
	// A whole segment of which only the first chunks came (the box's
	// stream was cut short and the segment was sent again whole) plays
	// on from the chunk after the newest.
	skip := 0
	if whole && st.haveMedia && st.fromPart && st.newest.seq == pos.seq {
		skip = int(st.newest.part) + 1
	} else if st.haveMedia && !st.newest.less(pos) {
		st.ignored++
		return
	}
	if !st.haveInit {
		// Nothing can be decoded without the parameter sets.
		st.ignored++
		return
	}
	frags, err := parseSegment(st.tracks, body)
	if err != nil {
		st.malformed++
		h.log.Warn("live: segment not playable", "id", id, "seq", pos.seq, "err", err)
		return
	}
	if skip > 0 {
		if skip >= len(frags) {
			st.ignored++ // every chunk of it was played already
			return
		}
		frags = frags[skip:]
		pos.part = uint32(len(frags) + skip - 1)
	} else if whole && len(frags) > 1 {
		pos.part = uint32(len(frags) - 1)
	}
	st.newest, st.haveMedia, st.fromPart = pos, true, !whole
	st.published++
	for _, f := range frags {
		st.dropped += uint64(st.sched.add(now, f))
	}
}

func (h *Hub) nextDue() (time.Time, bool) {
	var next time.Time
	found := false
	for _, st := range h.streams {
		if t, ok := st.sched.next(); ok && (!found || t.Before(next)) {
			next, found = t, true
		}
	}
	return next, found
}

func (h *Hub) writeDue() {
	now := h.cfg.Now()
	for _, st := range h.streams {
		for _, q := range st.sched.take(now) {
			for _, v := range st.viewers {
				if err := v.write(q.sample); err != nil {
					st.writeErrors++
					h.log.Debug("live: write", "id", st.id, "session", v.id, "err", err)
				}
			}
		}
	}
}

// sweep drops viewers whose connection failed or never came up, and
// streams that went quiet.
func (h *Hub) sweep() {
	now := h.cfg.Now()
	for _, v := range h.viewers {
		switch v.pc.ConnectionState() {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			h.dropViewer(v, "connection "+v.pc.ConnectionState().String())
		case webrtc.PeerConnectionStateNew, webrtc.PeerConnectionStateConnecting:
			if now.Sub(v.created) > h.cfg.ConnectTimeout {
				h.dropViewer(v, "never connected")
			}
		}
	}
	for _, st := range h.streams {
		if now.Sub(st.lastSegment) > h.cfg.IdleTimeout {
			h.endStream(st, "no segment for "+h.cfg.IdleTimeout.String())
		}
	}
}

func (h *Hub) endStream(st *stream, why string) {
	for _, v := range st.viewers {
		h.dropViewer(v, why)
	}
	delete(h.streams, st.id)
	h.log.Info("live: stream ended", "id", st.id, "why", why)
}

func (h *Hub) dropViewer(v *viewer, why string) {
	delete(h.viewers, v.id)
	if st, ok := h.streams[v.recording]; ok {
		delete(st.viewers, v.id)
	}
	h.log.Info("live: viewer left", "id", v.recording, "session", v.id, "why", why)
	h.closing.Go(func() { _ = v.pc.Close() })
}

// current is the recording the "current live interview" routes play: the
// one whose segment came last, of those a viewer can start.
func (h *Hub) current() *stream {
	var cur *stream
	for _, st := range h.streams {
		if st.haveInit && (cur == nil || st.lastSegment.After(cur.lastSegment) ||
			st.lastSegment.Equal(cur.lastSegment) && st.id < cur.id) {
			cur = st
		}
	}
	return cur
}

// lookup finds a playable stream; id "" means the current one.
func (h *Hub) lookup(id string) (*stream, error) {
	if id == "" {
		if st := h.current(); st != nil {
			return st, nil
		}
		return nil, fmt.Errorf("%w: nothing is live", ErrNotLive)
	}
	st, ok := h.streams[id]
	if !ok || !st.haveInit {
		return nil, fmt.Errorf("%w: %s", ErrNotLive, id)
	}
	return st, nil
}

// Status says what is live.
type Status struct {
	// Current is the recording PathWHEPCurrent plays; empty when nothing is
	// live.
	Current string         `json:"current,omitempty"`
	Streams []StreamStatus `json:"streams"`
	// Overflow counts segments left out of the live view because the hub
	// was behind.
	Overflow uint64 `json:"overflow,omitempty"`
}

// StreamStatus is one recording's live stream.
type StreamStatus struct {
	ID          string          `json:"id"`
	Since       time.Time       `json:"since"`        // first segment published
	LastSegment time.Time       `json:"last_segment"` // newest Publish of any segment
	LastSeq     uint64          `json:"last_seq"`     // newest media segment played
	Playable    bool            `json:"playable"`     // the init segment is known
	Codec       string          `json:"codec,omitempty"`
	Width       int             `json:"width,omitempty"`
	Height      int             `json:"height,omitempty"`
	Audio       bool            `json:"audio"`
	Viewers     int             `json:"viewers"`
	Sessions    []SessionStatus `json:"sessions"`
	Published   uint64          `json:"published"` // media segments, and chunks of streamed ones, played
	Ignored     uint64          `json:"ignored"`   // older than the newest, or before the init segment
	Malformed   uint64          `json:"malformed"`
	Dropped     uint64          `json:"dropped"`      // samples cut to catch up with the live edge
	WriteErrors uint64          `json:"write_errors"` // samples a viewer's connection refused
}

// SessionStatus is one viewer of a stream.
type SessionStatus struct {
	ID    string      `json:"id"`
	State ViewerState `json:"state"`
	Since time.Time   `json:"since"`
}

// ViewerState is where a viewer's session stands.
type ViewerState int

const (
	// ViewerConnecting: ICE and DTLS are not through yet.
	ViewerConnecting ViewerState = iota
	// ViewerWaiting: connected, waiting for the next IDR to start at.
	ViewerWaiting
	// ViewerPlaying: media flows.
	ViewerPlaying
)

func (s ViewerState) String() string {
	switch s {
	case ViewerConnecting:
		return "connecting"
	case ViewerWaiting:
		return "waiting"
	case ViewerPlaying:
		return "playing"
	}
	return fmt.Sprintf("ViewerState(%d)", int(s))
}

// MarshalText writes the state by name in JSON.
func (s ViewerState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Watching is how many viewers are connected to a stream now (waiting
// for its next IDR or playing): what the box shows as "viewing from this
// server" on the server's icon.
func (h *Hub) Watching(ctx context.Context) (int, error) {
	n := 0
	err := h.do(ctx, func() {
		for _, st := range h.streams {
			for _, v := range st.viewers {
				if v.state() != ViewerConnecting {
					n++
				}
			}
		}
	})
	return n, err
}

// Status reports the live streams, sorted by ID.
func (h *Hub) Status(ctx context.Context) (Status, error) {
	var s Status
	err := h.do(ctx, func() {
		if cur := h.current(); cur != nil {
			s.Current = cur.id
		}
		for _, st := range h.streams {
			ss := StreamStatus{
				ID: st.id, Since: st.since, LastSegment: st.lastSegment, LastSeq: st.newest.seq,
				Playable: st.haveInit, Audio: st.tracks.audio, Viewers: len(st.viewers),
				Published: st.published, Ignored: st.ignored, Malformed: st.malformed, Dropped: st.dropped,
				WriteErrors: st.writeErrors,
			}
			if st.haveInit {
				ss.Codec, ss.Width, ss.Height = st.tracks.codecName(), st.tracks.width, st.tracks.height
			}
			ss.Sessions = []SessionStatus{}
			for _, v := range st.viewers {
				ss.Sessions = append(ss.Sessions, SessionStatus{ID: v.id, State: v.state(), Since: v.created})
			}
			slices.SortFunc(ss.Sessions, func(a, b SessionStatus) int { return strings.Compare(a.ID, b.ID) })
			s.Streams = append(s.Streams, ss)
		}
	})
	slices.SortFunc(s.Streams, func(a, b StreamStatus) int { return strings.Compare(a.ID, b.ID) })
	if s.Streams == nil {
		s.Streams = []StreamStatus{}
	}
	s.Overflow = h.overflow.Load()
	return s, err
}
