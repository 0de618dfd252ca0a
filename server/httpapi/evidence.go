package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"os"

	"twincap/server/auth"
	"twincap/server/evidence"
	"twincap/server/store"
	"twincap/server/wire"
)

// EvidenceList is the reply of wire.PathEvidence.
type EvidenceList struct {
	// Configured is false when this server does not upload (no evidence
	// endpoint in its settings).
	Configured bool              `json:"configured"`
	Uploads    []evidence.Status `json:"uploads"`
}

var errNoEvidence = errors.New("httpapi: evidence upload is not configured on this server")

// evidenceList lists every recording in the upload queue, in the order
// they were queued.
func (a *API) evidenceList(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	q := a.evidence()
	rep := EvidenceList{Configured: q != nil, Uploads: []evidence.Status{}}
	if q != nil {
		rep.Uploads = q.List()
	}
	writeJSON(w, http.StatusOK, rep)
}

// recordingEvidence is one recording's upload state.
func (a *API) recordingEvidence(w http.ResponseWriter, r *http.Request, _ auth.Claims) {
	q := a.evidence()
	if q == nil {
		a.fail(w, r, http.StatusNotFound, errNoEvidence)
		return
	}
	st, err := q.Status(r.PathValue("id"))
	if err != nil {
		a.fail(w, r, evidenceStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// evidenceRetry starts a given-up upload again with a fresh count of
// attempts.
func (a *API) evidenceRetry(w http.ResponseWriter, r *http.Request, who auth.Claims) {
	q := a.evidence()
	if q == nil {
		a.fail(w, r, http.StatusNotFound, errNoEvidence)
		return
	}
	id := r.PathValue("id")
	if err := q.Retry(id); err != nil {
		code := evidenceStatus(err)
		if errors.Is(err, evidence.ErrInvalid) {
			code = http.StatusConflict
		}
		a.fail(w, r, code, err)
		return
	}
	a.log.Info("evidence: retry asked", "user", who.User, "id", id)
	st, err := q.Status(id)
	if err != nil {
		a.fail(w, r, evidenceStatus(err), err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func evidenceStatus(err error) int {
	if errors.Is(err, evidence.ErrNotFound) {
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// peerUpload tells the paired server how far this server got uploading a
// recording (its evidence.Peer asks). A finalized recording that is not
// queued here (uploading not configured, or not queued yet) is reported
// by its size alone; one this server does not hold is 404.
func (a *API) peerUpload(w http.ResponseWriter, r *http.Request) {
	peer, ok := a.peerAuthed(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if q := a.evidence(); q != nil {
		if p, err := q.PeerUpload(id); err == nil {
			a.log.Debug("httpapi: upload state read by the paired server", "peer", peer, "id", id)
			writeJSON(w, http.StatusOK, wire.PeerUpload{Bytes: p.Bytes, Started: p.Started, Finished: p.Finished})
			return
		}
	}
	f, err := a.store.Files(id)
	if errors.Is(err, store.ErrNotFinal) { // still recording here: what it holds so far
		st, gerr := a.store.Get(id)
		if gerr != nil {
			a.failErr(w, r, gerr)
			return
		}
		writeJSON(w, http.StatusOK, wire.PeerUpload{Bytes: st.Bytes})
		return
	}
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	fi, err := os.Stat(f.Media)
	if err != nil {
		a.failErr(w, r, fmt.Errorf("httpapi: %s: %w", id, err))
		return
	}
	writeJSON(w, http.StatusOK, wire.PeerUpload{Bytes: fi.Size()})
}

// peerUploaded: the paired server completed its upload of a recording;
// a queue that waits for it looks at the store again now.
func (a *API) peerUploaded(w http.ResponseWriter, r *http.Request) {
	peer, ok := a.peerAuthed(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if q := a.evidence(); q != nil {
		if err := q.Recheck(id); err != nil && !errors.Is(err, evidence.ErrNotFound) {
			a.failErr(w, r, err)
			return
		}
	}
	a.log.Debug("httpapi: the paired server uploaded a recording", "peer", peer, "id", id)
	w.WriteHeader(http.StatusNoContent)
}
