// Package h264 reads the parts of an H.264 (AVC) elementary stream that the
// MP4 writer needs: NAL units out of the Annex-B byte stream the encoder
// produces, the length-prefixed (AVCC) form that MP4 samples carry, whether
// an access unit is a keyframe, and the picture size and profile from a
// sequence parameter set. It decodes nothing else; it never panics on bad
// input, since it also reads bytes that came over the network.
package h264
