//go:build linux

package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Event is an asynchronous QMP event (SHUTDOWN, RESET, WATCHDOG, ...).
type Event struct {
	Name string
	Data json.RawMessage
	At   time.Time
}

func (e Event) String() string {
	return e.At.Format("15:04:05.000") + " " + e.Name + " " + string(e.Data)
}

// ErrQMPClosed means QEMU closed the monitor (it exited).
var ErrQMPClosed = errors.New("vmtest: QMP connection closed")

// QMP is a client of QEMU's monitor protocol: one command at a time, events
// kept in the order they came.
type QMP struct {
	conn    net.Conn
	cmdMu   sync.Mutex // one command in flight
	replies chan qmpMessage
	closed  chan struct{}

	mu     sync.Mutex // guards events
	events []Event
}

type qmpMessage struct {
	Return json.RawMessage `json:"return"`
	Error  *struct {
		Class string `json:"class"`
		Desc  string `json:"desc"`
	} `json:"error"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	QMP   json.RawMessage `json:"QMP"`
}

// DialQMP connects to QEMU's QMP socket (retrying until ctx ends, as QEMU
// makes it a moment after it starts) and negotiates capabilities.
func DialQMP(ctx context.Context, path string) (*QMP, error) {
	var conn net.Conn
	for {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", path)
		if err == nil {
			conn = c
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("vmtest: QMP %s: %w", path, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	q := &QMP{conn: conn, replies: make(chan qmpMessage, 1), closed: make(chan struct{})}
	greeting := make(chan error, 1)
	go q.read(greeting)
	select {
	case err := <-greeting:
		if err != nil {
			conn.Close()
			return nil, err
		}
	case <-ctx.Done():
		conn.Close()
		return nil, fmt.Errorf("vmtest: QMP greeting: %w", ctx.Err())
	}
	if _, err := q.Execute(ctx, "qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *QMP) read(greeting chan<- error) {
	defer close(q.closed)
	dec := json.NewDecoder(bufio.NewReader(q.conn))
	first := true
	for {
		var m qmpMessage
		if err := dec.Decode(&m); err != nil {
			if first {
				greeting <- fmt.Errorf("vmtest: QMP greeting: %w", err)
			}
			return
		}
		switch {
		case first:
			first = false
			if m.QMP == nil {
				greeting <- errors.New("vmtest: QMP: no greeting")
				return
			}
			greeting <- nil
		case m.Event != "":
			q.mu.Lock()
			q.events = append(q.events, Event{Name: m.Event, Data: m.Data, At: time.Now()})
			q.mu.Unlock()
		default:
			select {
			case q.replies <- m:
			default: // a reply nobody waits for (its command timed out)
			}
		}
	}
}

// Execute runs one QMP command and returns its "return" value.
func (q *QMP) Execute(ctx context.Context, command string, args any) (json.RawMessage, error) {
	q.cmdMu.Lock()
	defer q.cmdMu.Unlock()
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if _, err := q.conn.Write(append(b, '\n')); err != nil {
		return nil, fmt.Errorf("vmtest: QMP %s: %w", command, err)
	}
	select {
	case m := <-q.replies:
		if m.Error != nil {
			return nil, fmt.Errorf("vmtest: QMP %s: %s: %s", command, m.Error.Class, m.Error.Desc)
		}
		return m.Return, nil
	case <-q.closed:
		return nil, fmt.Errorf("vmtest: QMP %s: %w", command, ErrQMPClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("vmtest: QMP %s: %w", command, ctx.Err())
	}
}

// Events is every event received so far.
func (q *QMP) Events() []Event {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]Event(nil), q.events...)
}

// Close closes the connection.
func (q *QMP) Close() error { return q.conn.Close() }
