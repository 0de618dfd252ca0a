package box

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"twincap/server/settings"
)

// Mismatch is the last comparison of the two servers' settings, made
// before an interview starts (the seed's "match settings between
// servers").
type Mismatch struct {
	// Blocking names the blocking settings that differ (Room ID, Device
	// ID, Device URL, FIPS): no interview starts until they match.
	Blocking []string `json:"blocking,omitempty"`
	// NonBlocking is how many other settings differ; the box's log has
	// the details.
	NonBlocking int `json:"non_blocking"`
	// Message is what the operator reads.
	Message string `json:"message,omitempty"`
	// Unchecked says why the settings could not be compared (a server
	// away, or its settings unreadable); interviews are not held up by it.
	Unchecked string    `json:"unchecked,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
}

// fetched is one server's settings as the box asked for them.
type fetched struct {
	name  string
	asked bool // the server was connected, so the box asked it
	s     settings.Settings
	err   error
	// room is the server's Room ID from its public health route, read
	// when its settings could not be: a server of another room refuses
	// the operator's ticket, and that must block, not go unchecked.
	room string
}

// compareSettings applies the seed's rule to the servers' settings
// (preferred first). It returns what the status shows (nil in a room with
// one server), the differences for the log, and whether a blocking
// difference stops the interview from starting.
func compareSettings(got []fetched) (m *Mismatch, details []string, blocked bool) {
	if len(got) < 2 {
		return nil, nil, false
	}
	m = &Mismatch{}
	if a, b, ok := otherRoom(got); ok {
		// The settings of a server in another room cannot be read with
		// this room's ticket; its Room ID alone is enough to refuse.
		x, y := settings.Default(), settings.Default()
		x.RoomID, y.RoomID = a, b
		c := settings.Compare(x, y)
		m.Blocking = []string{c.Of(settings.Blocking)[0].Field.Label}
		m.Message = c.Message()
		for _, f := range got {
			if f.err != nil {
				m.Message += fmt.Sprintf(" The %s server's other settings could not be read (%v).", f.name, f.err)
			}
		}
		return m, c.Details(), true
	}
	for _, f := range got {
		switch {
		case !f.asked:
			m.Unchecked = fmt.Sprintf("the %s server is not connected: its settings were not compared", f.name)
			return m, nil, false
		case f.err != nil:
			m.Unchecked = fmt.Sprintf("the %s server's settings could not be read (%v): they were not compared", f.name, f.err)
			return m, nil, false
		}
	}
	c := settings.Compare(got[0].s, got[1].s)
	for _, d := range c.Of(settings.Blocking) {
		m.Blocking = append(m.Blocking, d.Field.Label)
	}
	m.NonBlocking = len(c.Of(settings.NonBlocking))
	m.Message = c.Message()
	return m, c.Details(), c.Blocking()
}

// otherRoom reports the Room IDs of two servers whose settings could not
// all be read but whose health says they are in different rooms.
func otherRoom(got []fetched) (a, b string, ok bool) {
	rooms := make([]string, len(got))
	failed := false
	for i, f := range got {
		if !f.asked {
			return "", "", false
		}
		rooms[i] = f.room
		if f.err == nil {
			rooms[i] = f.s.RoomID
		} else {
			failed = true
		}
		if rooms[i] == "" {
			return "", "", false
		}
	}
	if !failed || rooms[0] == rooms[1] {
		return "", "", false
	}
	return rooms[0], rooms[1], true
}

// fetchSettings asks every connected server for its settings, with the
// operator's ticket, at once.
func (b *Box) fetchSettings(ctx context.Context, ticket string, connected []bool) []fetched {
	out := make([]fetched, len(b.clients))
	var wg sync.WaitGroup
	for i, c := range b.clients {
		out[i] = fetched{name: b.names[i], asked: connected[i]}
		if !connected[i] {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			out[i].s, out[i].err = c.WithTicket(ticket).Settings(cctx)
			if out[i].err != nil {
				if h, err := c.Health(cctx); err == nil {
					out[i].room = h.RoomID
				}
			}
		}()
	}
	wg.Wait()
	return out
}

// checkSettings compares the servers' settings before a start, keeps the
// outcome for the status and logs the differences. A blocking difference
// is an error wrapping ErrCannotStart that names the settings.
func (b *Box) checkSettings(ctx context.Context, st *loopState, ticket string, connected []bool) error {
	m, details, blocked := compareSettings(b.fetchSettings(ctx, ticket, connected))
	if m == nil {
		st.mismatch = nil
		return nil
	}
	m.CheckedAt = b.deps.Now().UTC()
	st.mismatch = m
	level := slog.LevelWarn
	if blocked {
		level = slog.LevelError
	}
	switch {
	case m.Unchecked != "":
		b.log.Warn("box: settings not compared", "why", m.Unchecked)
	case len(details) > 0:
		b.log.Log(ctx, level, "box: settings differ between the servers", "blocking", m.Blocking, "non_blocking", m.NonBlocking)
		for _, d := range details {
			b.log.Log(ctx, level, "box: setting differs (preferred vs redundant)", "difference", d)
		}
	}
	if blocked {
		return fmt.Errorf("%w: %s", ErrCannotStart, m.Message)
	}
	return nil
}
