package leds_test

import (
	"strings"
	"testing"

	"twincap/drivers/leds"
)

func TestLookupGPIOMissingLine(t *testing.T) {
	_, err := leds.LookupGPIO("status", "twincap-no-such-line", false)
	if err == nil || !strings.HasPrefix(err.Error(), "leds: gpio status") || !strings.Contains(err.Error(), "twincap-no-such-line") {
		t.Errorf("LookupGPIO = %v", err)
	}
}
