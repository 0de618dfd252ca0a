package live

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"net/url"
	"strings"

	"twincap/server/wire"
)

//go:embed viewer.html
var viewerHTML string

var viewerTemplate = template.Must(template.New("viewer").Parse(viewerHTML))

// ViewerConfig configures the viewer page.
type ViewerConfig struct {
	// Servers are the base URLs ("https://host:port") of the room's
	// servers, preferred first, redundant second. Empty: only the server
	// that serves the page. The page's ?servers= query overrides it.
	Servers []string
	// Title is shown on the page; "" means "Live interview".
	Title string
}

// pageConfig is what the page's script reads.
type pageConfig struct {
	Servers         []string `json:"servers"`
	Title           string   `json:"title"`
	PathStatus      string   `json:"pathStatus"`
	PathWHEPCurrent string   `json:"pathWhepCurrent"`
	PathWHEP        string   `json:"pathWhep"` // with {id}
	PathLogin       string   `json:"pathLogin"`
}

func renderViewer(cfg ViewerConfig) ([]byte, error) {
	for _, s := range cfg.Servers {
		if u, err := url.Parse(s); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("live: viewer server %q: want http(s)://host[:port]", s)
		}
	}
	pc := pageConfig{
		Servers:         cfg.Servers,
		Title:           cfg.Title,
		PathStatus:      PathStatus,
		PathWHEPCurrent: PathWHEPCurrent,
		PathWHEP:        PathWHEP,
		PathLogin:       wire.PathLogin,
	}
	if pc.Servers == nil {
		pc.Servers = []string{}
	}
	if pc.Title == "" {
		pc.Title = "Live interview"
	}
	var b bytes.Buffer
	if err := viewerTemplate.Execute(&b, pc); err != nil {
		return nil, fmt.Errorf("live: viewer page: %w", err)
	}
	return b.Bytes(), nil
}
