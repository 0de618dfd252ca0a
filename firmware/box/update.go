package box

import (
	"context"
	"errors"
	"fmt"
	"time"

	"twincap/firmware/updater"
)

// UpdateHold is what the update agent waits for in status s: an
// interview that runs (or stops, or shuts down) and recordings not yet
// held whole by every server.
func UpdateHold(s Status) updater.Hold {
	return updater.Hold{Interview: s.Phase != Idle.String(), Owed: s.Owed}
}

// InMaintenance reports whether now falls in the maintenance window of
// any connected server's settings, read with the operator's ticket. Each
// server keeps its own windows (they differ so that the two are never
// down together); the box's own restart disturbs neither, so one is
// enough. With no server's settings readable the window is not known,
// and the agent treats that as outside.
func (b *Box) InMaintenance(ctx context.Context, now time.Time) (bool, error) {
	b.mu.Lock()
	ticket := b.sess.ticket
	b.mu.Unlock()
	if ticket == "" {
		return false, errors.New("no operator session, so the servers' settings cannot be read")
	}
	connected := make([]bool, len(b.uplinks))
	for i, u := range b.uplinks {
		connected[i] = Green(u.Status().State)
	}
	return inMaintenance(b.fetchSettings(ctx, ticket, connected), now)
}

func inMaintenance(got []fetched, now time.Time) (bool, error) {
	var errs []error
	read := false
	for _, f := range got {
		switch {
		case !f.asked:
			errs = append(errs, fmt.Errorf("the %s server is not connected", f.name))
		case f.err != nil:
			errs = append(errs, fmt.Errorf("the %s server's settings: %w", f.name, f.err))
		case f.s.InMaintenance(now):
			return true, nil
		default:
			read = true
		}
	}
	if read {
		return false, nil
	}
	return false, errors.Join(errs...)
}
