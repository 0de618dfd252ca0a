package box

import (
	"bytes"
	"image"
	"image/jpeg"
	"net/http"
	"sync"
	"time"

	"twincap/drivers/camera"
)

// previewMaxAge is how old the newest frame may be before the control
// page shows no picture (the camera stopped, or no interview runs).
const previewMaxAge = 2 * time.Second

// previewEvery bounds how often a JPEG is made, however many pages ask.
const previewEvery = 400 * time.Millisecond

// preview keeps the newest camera frame for the control page's live
// picture. It is a local view of what the box captures, so the operator
// sees the camera even when no server is reachable.
type preview struct {
	mu     sync.Mutex
	frame  *image.YCbCr
	at     time.Time
	jpeg   []byte
	madeAt time.Time
}

func (p *preview) set(f camera.Frame) {
	p.mu.Lock()
	p.frame, p.at = f.Image, time.Now()
	p.mu.Unlock()
}

// image returns a JPEG of the newest frame, or nil when there is none
// recent enough.
func (p *preview) image(now time.Time) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frame == nil || now.Sub(p.at) > previewMaxAge {
		return nil
	}
	if p.jpeg != nil && now.Sub(p.madeAt) < previewEvery {
		return p.jpeg
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, p.frame, &jpeg.Options{Quality: 60}); err != nil {
		return nil
	}
	p.jpeg, p.madeAt = buf.Bytes(), now
	return p.jpeg
}

func (b *Box) servePreview(w http.ResponseWriter, r *http.Request) {
	img := b.preview.image(time.Now())
	w.Header().Set("Cache-Control", "no-store")
	if img == nil {
		writeErr(w, http.StatusNotFound, "no picture: no interview is being captured")
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	_, _ = w.Write(img)
}
