package watchdogtest

import (
	"time"

	"twincap/internal/tickertest"
	"twincap/watchdog"
)

// Ticker is a watchdog.Ticker ticked by the test (Tick returns once the
// Petter has finished the check for the tick). Pass its New as
// watchdog.Config.NewTicker.
type Ticker struct{ *tickertest.Ticker }

// NewTicker returns a ticker that ticks only when Tick is called.
func NewTicker() *Ticker { return &Ticker{tickertest.New()} }

// New is the watchdog.Config.NewTicker hook; it remembers the period.
func (t *Ticker) New(d time.Duration) watchdog.Ticker {
	t.Started(d)
	return t
}
