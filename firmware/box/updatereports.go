package box

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"twincap/internal/durable"
	"twincap/server/wire"
)

// UpdateReportsName is the file in the update stage folder that keeps the
// update agent's reports until every configured server has audited them:
// a reboot into a new version, and whether it took, must reach both
// servers' trails even when one was away or the box rebooted first.
const UpdateReportsName = "reports.json"

// maxPendingReports caps what is kept for one server that never comes
// back; the oldest go first (and the log says so).
const maxPendingReports = 200

// outbox is the reports each server has not yet taken, oldest first, kept
// durably.
type outbox struct {
	path string
	kick chan struct{}

	mu      sync.Mutex
	pending [][]wire.UpdateReport // per server, as b.clients
}

type outboxFile struct {
	Pending map[string][]wire.UpdateReport `json:"pending"` // by server name
}

func openOutbox(dir string, names []string) (*outbox, error) {
	o := &outbox{path: filepath.Join(dir, UpdateReportsName), kick: make(chan struct{}, 1), pending: make([][]wire.UpdateReport, len(names))}
	data, err := os.ReadFile(o.path)
	if errors.Is(err, os.ErrNotExist) {
		return o, nil
	}
	if err != nil {
		return nil, fmt.Errorf("box: update reports: %w", err)
	}
	var f outboxFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("box: update reports %s: %w", o.path, err)
	}
	for i, n := range names {
		o.pending[i] = f.Pending[n]
	}
	return o, nil
}

// save writes the outbox; the caller holds mu.
func (o *outbox) save(names []string) error {
	f := outboxFile{Pending: map[string][]wire.UpdateReport{}}
	for i, p := range o.pending {
		if len(p) > 0 {
			f.Pending[names[i]] = p
		}
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	if err := durable.MkdirAll(filepath.Dir(o.path), 0o700); err != nil {
		return err
	}
	return durable.WriteFile(o.path, append(data, '\n'), 0o600)
}

// ReportUpdate queues one step of a remote update for every configured
// server's audit trail: it is on disk when this returns (the agent reports
// the reboot just before it reboots), and sent as soon as each server is
// connected and an operator's ticket is at hand.
func (b *Box) ReportUpdate(r wire.UpdateReport) {
	if b.outbox == nil {
		b.log.Warn("box: an update report with no update folder to keep it", "event", r.Event)
		return
	}
	var id [8]byte
	rand.Read(id[:])
	r.ID = r.At.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(id[:])
	r.BoxID = b.cfg.BoxID
	o := b.outbox
	o.mu.Lock()
	for i := range o.pending {
		o.pending[i] = append(o.pending[i], r)
		if n := len(o.pending[i]) - maxPendingReports; n > 0 {
			b.log.Warn("box: dropping the oldest update reports the server never took", "server", b.names[i], "dropped", n)
			o.pending[i] = o.pending[i][n:]
		}
	}
	err := o.save(b.names)
	o.mu.Unlock()
	if err != nil {
		b.log.Error("box: keep an update report", "event", r.Event, "err", err)
	}
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// deliverUpdateReports sends what each server has not taken, whenever a
// report is queued and every few seconds, until ctx ends.
func (b *Box) deliverUpdateReports(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		b.sendUpdateReports(ctx)
		select {
		case <-ctx.Done():
			return
		case <-b.outbox.kick:
		case <-t.C:
		}
	}
}

func (b *Box) sendUpdateReports(ctx context.Context) {
	b.mu.Lock()
	ticket := b.sess.ticket
	b.mu.Unlock()
	if ticket == "" {
		return
	}
	o := b.outbox
	for i, c := range b.clients {
		if !Green(b.uplinks[i].Status().State) {
			continue
		}
		for {
			o.mu.Lock()
			if len(o.pending[i]) == 0 {
				o.mu.Unlock()
				break
			}
			r := o.pending[i][0]
			o.mu.Unlock()
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := c.WithTicket(ticket).ReportUpdate(cctx, r)
			cancel()
			if err != nil {
				b.log.Warn("box: update report not taken; kept for later", "server", b.names[i], "event", r.Event, "err", err)
				break
			}
			o.mu.Lock()
			if len(o.pending[i]) > 0 && o.pending[i][0].ID == r.ID {
				o.pending[i] = o.pending[i][1:]
			}
			err = o.save(b.names)
			o.mu.Unlock()
			if err != nil {
				b.log.Error("box: keep the update reports", "err", err)
				return
			}
		}
	}
}
