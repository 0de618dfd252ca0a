package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"twincap/server/audit"
	"twincap/server/auth"
	"twincap/server/store"
	"twincap/server/wire"
)

// audit appends r to the trail; the caller acknowledges nothing it audits
// before this returns nil.
func (a *API) audit(r audit.Record) error {
	if _, err := a.trail.Append(r); err != nil {
		return fmt.Errorf("httpapi: audit %s: %w", r.Action, err)
	}
	return nil
}

// auditOnce appends r unless the trail already has an entry of its action
// for its recording.
func (a *API) auditOnce(r audit.Record) error {
	a.finishMu.Lock()
	defer a.finishMu.Unlock()
	if len(a.trail.Entries(audit.Filter{Recording: r.Recording, Action: r.Action})) > 0 {
		return nil
	}
	return a.audit(r)
}

// actorName makes an attempted username fit the trail's actor field:
// as it is when it does, else quoted in ASCII and cut.
func actorName(s string) string {
	if (audit.Record{Actor: s, Action: audit.LoginFailed}).Validate() == nil {
		return s
	}
	q := strconv.QuoteToASCII(s)
	if len(q) > audit.MaxActor {
		q = q[:audit.MaxActor-3] + "..."
	}
	return q
}

// finish gives finalized recording id its Stop entry (once) and its
// audit.json (an audit.Export, written durably beside media.mp4), unless it
// has them. note, when not empty, is added to the Stop entry's details.
func (a *API) finish(id, actor, note string) error {
	a.finishMu.Lock()
	defer a.finishMu.Unlock()
	f, err := a.store.OpenAudit(id)
	if err == nil {
		f.Close()
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(a.trail.Entries(audit.Filter{Recording: id, Action: audit.Stop})) == 0 {
		m, err := a.store.Metadata(id)
		if err != nil {
			return err
		}
		details := fmt.Sprintf("finalized: %d segments, %d gaps, media %d bytes, sha256 %s",
			len(m.Segments), len(m.Gaps), m.MediaBytes, m.MediaSHA256)
		if note != "" {
			details += "; " + note
		}
		if err := a.audit(audit.Record{Actor: actor, Action: audit.Stop, Recording: id, Details: details}); err != nil {
			return err
		}
	}
	x, err := a.trail.Export(id)
	if err != nil {
		return fmt.Errorf("httpapi: audit export %s: %w", id, err)
	}
	b, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		return fmt.Errorf("httpapi: audit export %s: %w", id, err)
	}
	return a.store.WriteAudit(id, append(b, '\n'))
}

// FinishAudits gives every finalized recording that lacks one its audit.json:
// recordings finalized when the server stopped before it wrote it, or
// before the server kept an audit trail. Their Stop entry, if missing, is
// the system's. The server calls it at start, before it serves.
func (a *API) FinishAudits() error {
	var errs []error
	for _, st := range a.store.List() {
		if st.State != wire.StateFinalized {
			continue
		}
		if err := a.finish(st.ID, audit.SystemActor, "audited at start-up: the server stopped before it audited this stop, or the recording is older than the audit trail"); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recordingAudit serves a finalized recording's audit.json.
func (a *API) recordingAudit(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	id := r.PathValue("id")
	f, err := a.store.OpenAudit(id)
	if errors.Is(err, fs.ErrNotExist) {
		a.fail(w, r, http.StatusNotFound, fmt.Errorf("httpapi: %s has no audit trail yet", id))
		return
	}
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	http.ServeContent(w, r, store.AuditFile, fi.ModTime(), f)
}

// auditEntries lists the entries that ?recording, ?actor and ?action
// select.
func (a *API) auditEntries(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	q := r.URL.Query()
	f := audit.Filter{Recording: q.Get("recording"), Actor: q.Get("actor")}
	if s := q.Get("action"); s != "" {
		act, err := audit.ParseAction(s)
		if err != nil {
			a.fail(w, r, http.StatusBadRequest, err)
			return
		}
		f.Action = act
	}
	if !utf8.ValidString(f.Recording + f.Actor) {
		a.fail(w, r, http.StatusBadRequest, fmt.Errorf("%w: query is not UTF-8", errBadRequest))
		return
	}
	entries := a.trail.Entries(f)
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

// auditVerify reads the trail back from disk and checks the whole chain.
func (a *API) auditVerify(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	start := time.Now()
	err := a.trail.Verify()
	head := a.trail.Head()
	rep := wire.AuditCheck{OK: err == nil, Entries: head.Seq, Head: head.Hash}
	if err != nil {
		rep.Error = err.Error()
		a.log.Error("audit: the trail does not verify", "user", who.User, "err", err)
	} else {
		a.log.Info("audit: trail verified", "user", who.User, "entries", head.Seq, "took", time.Since(start).Round(time.Millisecond))
	}
	writeJSON(w, http.StatusOK, rep)
}
