//go:build linux

package vmtest

import "testing"

func TestOnGrid(t *testing.T) {
	for _, c := range []struct {
		ts   []float64
		fps  int
		want bool
	}{
		{[]float64{1.0, 1.066667, 1.266667, 2.0}, 15, true}, // frames 0, 1, 4, 15
		{[]float64{0, 0.04, 0.08}, 15, false},               // 25 fps times
		{[]float64{0, 0.2, 0.9}, 10, true},
		{[]float64{0, 0.2, 0.95}, 10, false},
	} {
		if got := OnGrid(c.ts, c.fps); got != c.want {
			t.Errorf("OnGrid(%v, %d) = %v, want %v", c.ts, c.fps, got, c.want)
		}
	}
}
