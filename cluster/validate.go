package cluster

import (
	"encoding/binary"
	"errors"
)

// errMalformedFrame rejects a frame before msgpack decodes it.
var errMalformedFrame = errors.New("cluster: malformed msgpack frame")

// maxFrameDepth bounds nesting: frames are at most three levels deep.
const maxFrameDepth = 8

// validFrame walks a msgpack value and checks that every length it
// declares fits in the bytes that remain, that nothing follows the value,
// and that it nests shallowly. msgpack decoders size their allocations by
// the declared lengths, so a few hostile bytes declaring a four-billion
// element array could otherwise exhaust memory (found by fuzzing).
func validFrame(b []byte) bool {
	n, ok := skipValue(b, 0)
	return ok && n == len(b)
}

// skipValue returns the length of the msgpack value at the start of b.
func skipValue(b []byte, depth int) (int, bool) {
	if len(b) == 0 || depth > maxFrameDepth {
		return 0, false
	}
	c := b[0]
	sized := func(header, size int) (int, bool) {
		if size < 0 || header+size > len(b) {
			return 0, false
		}
		return header + size, true
	}
	length := func(width int) (int, bool) {
		if 1+width > len(b) {
			return 0, false
		}
		switch width {
		case 1:
			return int(b[1]), true
		case 2:
			return int(binary.BigEndian.Uint16(b[1:3])), true
		default:
			return int(binary.BigEndian.Uint32(b[1:5])), true
		}
	}
	container := func(header, count, per int) (int, bool) {
		if count < 0 || count*per > len(b)-header { // every element takes a byte at least
			return 0, false
		}
		off := header
		for range count * per {
			n, ok := skipValue(b[off:], depth+1)
			if !ok {
				return 0, false
			}
			off += n
		}
		return off, true
	}
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixints, nil, bools
		return 1, true
	case c >= 0xa0 && c <= 0xbf: // fixstr
		return sized(1, int(c&0x1f))
	case c >= 0x90 && c <= 0x9f: // fixarray
		return container(1, int(c&0x0f), 1)
	case c >= 0x80 && c <= 0x8f: // fixmap
		return container(1, int(c&0x0f), 2)
	}
	switch c {
	case 0xcc, 0xd0:
		return sized(1, 1)
	case 0xcd, 0xd1:
		return sized(1, 2)
	case 0xce, 0xd2, 0xca:
		return sized(1, 4)
	case 0xcf, 0xd3, 0xcb:
		return sized(1, 8)
	case 0xd9, 0xc4: // str8, bin8
		n, ok := length(1)
		if !ok {
			return 0, false
		}
		return sized(2, n)
	case 0xda, 0xc5: // str16, bin16
		n, ok := length(2)
		if !ok {
			return 0, false
		}
		return sized(3, n)
	case 0xdb, 0xc6: // str32, bin32
		n, ok := length(4)
		if !ok {
			return 0, false
		}
		return sized(5, n)
	case 0xdc, 0xde: // array16, map16
		n, ok := length(2)
		if !ok {
			return 0, false
		}
		return container(3, n, 1+int(c-0xdc)/2)
	case 0xdd, 0xdf: // array32, map32
		n, ok := length(4)
		if !ok {
			return 0, false
		}
		return container(5, n, 1+int(c-0xdd)/2)
	}
	return 0, false // extensions and reserved bytes have no place in a frame
}
