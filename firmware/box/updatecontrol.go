package box

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"twincap/firmware/updater"
	"twincap/internal/durable"
)

// PathUpdate takes a signed update bundle that a technician brought to the
// box (twincapctl update FILE); the body is the bundle. The answer is 202
// once it verified (it is installed when no interview runs and nothing is
// owed; the status shows the progress), 400 with the reason when it was
// refused, 401 with no operator logged in, 409 when remote updates are not
// configured on this box.
const PathUpdate = "/api/update"

// ByHandName is the file a bundle brought by hand is staged as, in
// update.stage_dir.
const ByHandName = "by-hand.tcb"

// maxBundle caps an uploaded bundle (the agent's own default).
const maxBundle = 4 << 30

func (b *Box) serveUpdate(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	loggedIn := b.sess.ticket != ""
	b.mu.Unlock()
	switch {
	case b.deps.LocalUpdate == nil:
		writeErr(w, http.StatusConflict, "update: remote updates are not configured on this box (update.source, update.public_keys and update.board in box.toml), so there is nothing to install with")
		return
	case !loggedIn:
		writeErr(w, http.StatusUnauthorized, "update: "+ErrNotLoggedIn.Error())
		return
	case r.ContentLength > maxBundle:
		writeErr(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("update: a bundle of %d bytes is larger than %d", r.ContentLength, maxBundle))
		return
	}
	if err := durable.MkdirAll(b.cfg.Update.StageDir, 0o700); err != nil {
		writeErr(w, http.StatusInternalServerError, "update: "+err.Error())
		return
	}
	path := filepath.Join(b.cfg.Update.StageDir, ByHandName)
	err := durable.WriteFrom(path, 0o600, func(dst io.Writer) error {
		_, err := io.Copy(dst, http.MaxBytesReader(w, r.Body, maxBundle))
		return err
	})
	if err != nil {
		writeErr(w, http.StatusBadRequest, "update: receiving the bundle: "+err.Error())
		return
	}
	b.log.Info("box: a bundle brought by hand was received", "path", path)
	if err := b.deps.LocalUpdate(r.Context(), path); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, updater.ErrNotRunning) {
			code = http.StatusServiceUnavailable
		}
		writeErr(w, code, "update: "+err.Error())
		return
	}
	writeJSON(w, http.StatusAccepted, b.Status())
}
