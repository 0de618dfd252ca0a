// Package fmp4 writes and reads the fragmented MP4 (ISO BMFF, CMAF-like)
// that a recording is made of: Init builds the init segment (ftyp+moov)
// for an H.264 video track and an optional Opus audio track, and
// Fragment.Marshal builds one media segment (moof+mdat). The concatenation
// of the init segment and the fragments in order is a playable MP4.
//
// ParseInit and ParseFragment read those segments back. The server uses
// them to sanity-check what a box sent, so they treat their input as
// hostile: they return errors wrapping ErrMalformed, never panic, and never
// allocate more than the input's size justifies.
//
// It writes only what the encoder needs: one sample description per track,
// no composition offsets (x264 runs without B-frames, so pts == dts), no
// edit lists.
package fmp4
