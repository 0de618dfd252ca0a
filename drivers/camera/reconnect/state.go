package reconnect

// State is where the wrapper is.
type State int

const (
	// Starting: the camera has not been opened yet.
	Starting State = iota
	// Live: frames come from the camera.
	Live
	// Lost: the camera is away; cards are delivered and opening it is
	// retried.
	Lost
	// Recovering: the camera opened again; the outage ends with its first
	// frame.
	Recovering
	// Closed: Close was called.
	Closed
)

func (s State) String() string {
	switch s {
	case Starting:
		return "starting"
	case Live:
		return "live"
	case Lost:
		return "lost"
	case Recovering:
		return "recovering"
	case Closed:
		return "closed"
	}
	return "unknown"
}

// event is what happens to the wrapper.
type event int

const (
	opened     event = iota // the open function returned a camera
	openFailed              // it returned an error (or a camera of the wrong size)
	frame                   // the camera delivered a frame
	readFailed              // the camera's Read failed or stalled
	closing                 // Close was called
)

func (e event) String() string {
	return [...]string{"opened", "open failed", "frame", "read failed", "close"}[e]
}

// action is what a transition asks the wrapper to do, as bits.
type action int

const (
	startOutage action = 1 << iota
	endOutage
	closeCamera
)

// transition is the whole state machine: the state after e in s, and what
// to do. An event that cannot happen in s leaves it alone.
func transition(s State, e event) (State, action) {
	switch {
	case s == Closed:
		return Closed, 0
	case e == closing:
		if s == Live || s == Recovering {
			return Closed, closeCamera
		}
		return Closed, 0
	}
	switch s {
	case Starting:
		switch e {
		case opened:
			return Live, 0
		case openFailed:
			return Lost, startOutage
		}
	case Live:
		switch e {
		case frame:
			return Live, 0
		case readFailed:
			return Lost, startOutage | closeCamera
		}
	case Lost:
		switch e {
		case opened:
			return Recovering, 0
		case openFailed:
			return Lost, 0
		}
	case Recovering:
		switch e {
		case frame:
			return Live, endOutage
		case readFailed:
			return Lost, closeCamera
		}
	}
	return s, 0
}
