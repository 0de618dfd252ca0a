// Package segment decides what a segment is, what it is called and how its
// checksum is computed. The box (which cuts segments) and the room server
// (which stores them) both import it, so the two sides can never disagree.
//
// A recording is a sequence of segments numbered from 0. Segment 0 is the
// init segment (ftyp+moov); segments 1, 2, ... are media fragments
// (moof+mdat). The playable file is the concatenation of all segments in
// order, so the bytes are decided once, on the box.
package segment
