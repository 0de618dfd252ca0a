// Package live serves the interview while it is recorded: browsers watch
// it over WebRTC, signalled with WHEP (RFC 9725), from the segments the
// room server already receives. The box uploads nothing twice.
//
// Hub.Publish is called right after the store has a segment durably. The
// hub's one goroutine (Run) owns every stream: it parses the init segment
// (SPS, PPS, Opus) and each moof+mdat, turns AVCC access units into the
// Annex-B form pion's H.264 payloader wants, with SPS and PPS in front of
// every IDR, and plays the samples out against the wall clock (schedule),
// so a 1 s segment takes 1 s. Only the live edge matters: a segment at or
// before the newest one published is ignored, as during a backfill.
//
// Each viewer has its own pion tracks, and gets nothing until the first
// IDR after its connection is up: a viewer that joins mid-segment starts
// at the next one. NewWHEP serves the WHEP routes, what is live (Status),
// and an embedded viewer page that fails over between the room's two
// servers by itself once the stream has played, and offers the redundant
// one with one click when the preferred one is down at the start.
//
// Latency. A segment is published only once it is complete and durable,
// so its first frame reaches a viewer about one segment after capture.
// When the box cuts CMAF chunks (a moof+mdat every ~200 ms of video, the
// first of a segment starting with its IDR) and streams them in the
// segment's PUT at the live edge, the server calls PublishPart for each
// moof+mdat as it arrives, before the segment is whole: a frame is then
// about one chunk behind capture. The parse path takes a segment of
// several pairs (splitFragments), schedules each pair by its media time,
// and orders what it is given by position{seq, part}; the segment's
// Publish after it is durable lands at or before the newest position and
// is ignored, but for the chunks after the newest when the box's stream
// was cut short and the segment came again whole. The schedule cuts its queue only at a fragment that starts
// with an IDR, so chunks without one never break a decoder. The hub adds
// about a millisecond (Publish to the first RTP packet on loopback).
package live
