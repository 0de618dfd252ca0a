package box

import (
	"context"
	"crypto/fips140"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"twincap/drivers/camera"
	"twincap/drivers/camera/reconnect"
	"twincap/drivers/leds"
	"twincap/firmware/policy"
	"twincap/firmware/roomclient"
	"twincap/firmware/updater"
	"twincap/firmware/uplink"
	"twincap/server/wire"
)

// ServerStatus is one server as the box shows it.
type ServerStatus struct {
	Name       string `json:"name"`
	Addr       string `json:"addr"`
	State      string `json:"state"`
	Icon       string `json:"icon"` // the seed's words for the current mode
	Green      bool   `json:"green"`
	NeedsLogin bool   `json:"needs_login,omitempty"`
	LastError  string `json:"last_error,omitempty"`
	// Viewers is how many browsers watch the livestream from this server
	// (its icon then says "viewing from this server" where the mode's
	// table has that state).
	Viewers int `json:"viewers"`
	// Acked is how many segments of the current interview this server
	// holds durably.
	Acked uint64 `json:"acked"`
}

// Status is what the control API's status call answers.
type Status struct {
	Phase       string         `json:"phase"`
	RecordingID string         `json:"recording_id,omitempty"`
	LastID      string         `json:"last_recording_id,omitempty"`
	StartedAt   time.Time      `json:"started_at,omitzero"`
	Elapsed     float64        `json:"elapsed_seconds"`
	Segments    uint64         `json:"segments"`
	Mode        wire.Mode      `json:"mode"`
	Fallback    string         `json:"fallback"`
	Room        string         `json:"room"` // connecting, connected, degraded
	User        string         `json:"user,omitempty"`
	Servers     []ServerStatus `json:"servers"`
	// FailoverReady is the seed's "two green icons".
	FailoverReady bool     `json:"failover_ready"`
	Owed          []string `json:"owed,omitempty"` // stopped interviews not yet held whole by every server
	Message       string   `json:"message,omitempty"`
	// Fault names the part at fault, as the fault LED shows it: camera,
	// audio, disk, or servers (none available).
	Fault string `json:"fault,omitempty"`
	// Mismatch is how the two servers' settings compared before the last
	// start (nil before any, and in a room with one server).
	Mismatch *Mismatch `json:"mismatch,omitempty"`
	// Update is the remote-update agent's state (nil when updates are
	// off).
	Update *updater.Status `json:"update,omitempty"`
	// FIPS says whether the box runs in Go's FIPS 140-3 mode (config
	// "fips"), as crypto/fips140 reports it.
	FIPS bool `json:"fips"`
}

func (b *Box) publish(st *loopState) {
	now := b.deps.Now()
	s := Status{Phase: st.phase.String(), Mode: b.cfg.Mode, Fallback: b.cfg.Fallback.String(), Message: st.message, LastID: st.lastID,
		FIPS: fips140.Enabled()}
	connected := make([]bool, len(b.uplinks))
	green := 0
	for i, u := range b.uplinks {
		us := u.Status()
		state := us.State
		ss := ServerStatus{
			Name: us.Name, Addr: b.cfg.Servers()[i].Addr,
			NeedsLogin: us.NeedsLogin, LastError: us.LastError, Viewers: us.Viewers,
		}
		if st.cur != nil {
			ss.Acked = us.Recordings[st.cur.create.ID].Acked
			if state == uplink.Online && us.Recordings[st.cur.create.ID].Created {
				state = uplink.Recording
			}
		}
		ss.State, ss.Icon, ss.Green = state.String(), Icon(b.cfg.Mode, state, us.Viewers > 0), Green(state)
		connected[i] = ss.Green
		if ss.Green {
			green++
		}
		s.Servers = append(s.Servers, ss)
	}
	s.FailoverReady = len(b.uplinks) == 2 && green == 2
	s.Room = policy.Room(now, st.since, connected).String()
	if st.joined && s.Room == policy.Connecting.String() {
		s.Room = policy.Degraded.String()
	}
	if st.cur != nil {
		s.RecordingID = st.cur.create.ID
		s.StartedAt = st.cur.create.StartedAt
		s.Elapsed = now.Sub(st.cur.create.StartedAt).Seconds()
		s.Segments = st.cur.src.Next()
	}
	for id := range st.delivering {
		s.Owed = append(s.Owed, id)
	}
	s.Fault = st.fault
	if st.cur != nil && cameraLost(st.cur.cam) {
		s.Fault = leds.FaultCamera
		if s.Message == "" {
			s.Message = "camera lost: the interview goes on (sound, and a 'camera lost' picture) until it returns"
		}
	}
	if st.mismatch != nil {
		m := *st.mismatch
		s.Mismatch = &m
	}
	if s.Fault == "" && green == 0 && (st.cur != nil || st.joined) {
		s.Fault = leds.FaultServers
	}
	sort.Strings(s.Owed)
	if b.deps.Update != nil {
		u := b.deps.Update()
		s.Update = &u
	}
	b.mu.Lock()
	s.User = b.sess.user
	b.status = s
	b.mu.Unlock()
}

// cameraLost reports whether a camera that survives unplugs (package
// reconnect) is away right now.
func cameraLost(c camera.Camera) bool {
	r, ok := c.(interface{ State() reconnect.State })
	if !ok {
		return false
	}
	switch r.State() {
	case reconnect.Lost, reconnect.Recovering:
		return true
	}
	return false
}

// LEDs is what the status LEDs show for status s.
func LEDs(s Status) leds.BoxState {
	ls := leds.BoxState{
		Power:        true,
		Ready:        s.Phase == Idle.String(),
		Recording:    s.Phase == Recording.String() || s.Phase == Stopping.String(),
		ShuttingDown: s.Phase == ShuttingDown.String(),
		Updating:     s.Update != nil && s.Update.Updating(),
		Fault:        s.Fault,
		Buffered:     s.Mode == wire.Buffered,
	}
	for _, sv := range s.Servers {
		ls.Servers = append(ls.Servers, leds.ServerLED{State: sv.State})
	}
	return ls
}

// Status is the latest snapshot.
func (b *Box) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

func (b *Box) ask(ctx context.Context, kind string) (string, error) {
	r := request{kind: kind, reply: make(chan reply, 1)}
	select {
	case b.reqs <- r:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case rep := <-r.reply:
		return rep.id, rep.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Start starts an interview if the fallback policy allows; it returns the
// recording ID.
func (b *Box) Start(ctx context.Context) (string, error) { return b.ask(ctx, "start") }

// Stop stops the interview once its last segment is journaled; the
// servers finalize it in the background.
func (b *Box) Stop(ctx context.Context) (string, error) { return b.ask(ctx, "stop") }

// Cancel stops the interview and deletes what was buffered for it, on the
// box and on the servers.
func (b *Box) Cancel(ctx context.Context) (string, error) { return b.ask(ctx, "cancel") }

// Login logs the operator in against the room's servers: the ticket from
// the first that accepts is valid on both, and the uplinks use it to
// (re)start recordings on either.
func (b *Box) Login(ctx context.Context, user, password string) error {
	type result struct {
		rep wire.LoginReply
		err error
	}
	results := make([]result, len(b.clients))
	var wg sync.WaitGroup
	for i, c := range b.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			rep, err := c.Login(cctx, user, password)
			results[i] = result{rep, err}
		}()
	}
	wg.Wait()
	var errs []error
	ticket := ""
	var expires time.Time
	for i, r := range results {
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.names[i], r.err))
			continue
		}
		if ticket == "" {
			ticket, expires = r.rep.Ticket, r.rep.Expires
		}
	}
	if ticket == "" {
		for _, e := range errs {
			if errors.Is(e, roomclient.ErrUnauthorized) {
				return fmt.Errorf("box: login refused: %w", errors.Join(errs...))
			}
		}
		return fmt.Errorf("box: login failed on every server: %w", errors.Join(errs...))
	}
	if err := b.useSession(ctx, user, ticket); err != nil {
		return err
	}
	if err := b.saveSession(storedSession{User: user, Ticket: ticket, Expires: expires}); err != nil {
		b.log.Error("box: the session is not kept across a restart", "err", err)
	}
	b.log.Info("box: operator logged in", "user", user)
	return nil
}

// useSession hands the ticket to every uplink and remembers the operator.
func (b *Box) useSession(ctx context.Context, user, ticket string) error {
	for _, u := range b.uplinks {
		if err := u.SetTicket(ctx, ticket); err != nil {
			return fmt.Errorf("box: login: %w", err)
		}
	}
	b.mu.Lock()
	b.sess = session{user: user, ticket: ticket}
	b.status.User = user
	b.mu.Unlock()
	return nil
}

// Logout forgets the operator's session on the box (the uplinks keep the
// ticket they have, so what is owed is still delivered).
func (b *Box) Logout() {
	b.dropSession()
	b.mu.Lock()
	b.sess = session{}
	b.status.User = ""
	b.mu.Unlock()
}
