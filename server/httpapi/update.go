package httpapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"twincap/server/audit"
	"twincap/server/auth"
	"twincap/server/wire"
)

// boxUpdate writes a step of a remote update on the box to the audit
// trail, as an update entry whose actor is the box. The box reports with
// the operator's ticket it holds, and the entry names that user. A report
// the trail already has (same box, same ID: a retry after a lost answer)
// is acknowledged and not audited again.
func (a *API) boxUpdate(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	var rep wire.UpdateReport
	if !a.readJSON(w, r, &rep) {
		return
	}
	if err := rep.Validate(); err != nil {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("%w: %w", errBadRequest, err))
		return
	}
	actor := "box " + rep.BoxID
	head := "report " + rep.ID + ": "
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s; running %s", head, rep.Event, rep.Running)
	if rep.Version != "" {
		fmt.Fprintf(&b, "; version %s", rep.Version)
	}
	if rep.Reason != "" {
		fmt.Fprintf(&b, "; %s", rep.Reason)
	}
	fmt.Fprintf(&b, "; at %s on the box; reported with %s's ticket from %s", rep.At.UTC().Format(time.RFC3339), who.User, remoteHost(r))

	a.finishMu.Lock()
	defer a.finishMu.Unlock()
	for _, e := range a.trail.Entries(audit.Filter{Actor: actor, Action: audit.Update}) {
		if strings.HasPrefix(e.Details, head) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if err := a.audit(audit.Record{Actor: actor, Action: audit.Update, Details: b.String()}); err != nil {
		a.failErr(w, r, err)
		return
	}
	a.log.Info("audit: box update", "box", rep.BoxID, "event", rep.Event, "running", rep.Running, "version", rep.Version, "reason", rep.Reason, "user", who.User)
	w.WriteHeader(http.StatusNoContent)
}
