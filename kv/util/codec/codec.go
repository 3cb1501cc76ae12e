// Package codec implements the memcomparable encodings of TiKV: byte strings
// and integers encoded so that comparing the encodings byte by byte orders
// them like the original values.
//
// Bytes are cut into groups of 8; each group is padded with 0x00 up to 8
// bytes and followed by a marker byte, 0xFF minus the number of pad bytes.
// A full group (marker 0xFF) means more groups follow; the last group always
// has padding (an input whose length is a multiple of 8 ends with an empty,
// all-padding group), so no encoding is a prefix of another.
package codec

import (
	"encoding/binary"
	"fmt"
)

const (
	encGroupSize = 8
	encMarker    = byte(0xFF)
	encPad       = byte(0x0)
)

var pads = make([]byte, encGroupSize)

// EncodeBytes returns the memcomparable encoding of data.
func EncodeBytes(data []byte) []byte {
	// Every 8 bytes of input become 9 bytes of output, plus one last group.
	encoded := make([]byte, 0, (len(data)/encGroupSize+1)*(encGroupSize+1))
	for idx := 0; idx <= len(data); idx += encGroupSize {
		remain := len(data) - idx
		padCount := 0
		if remain >= encGroupSize {
			encoded = append(encoded, data[idx:idx+encGroupSize]...)
		} else {
			padCount = encGroupSize - remain
			encoded = append(encoded, data[idx:]...)
			encoded = append(encoded, pads[:padCount]...)
		}
		encoded = append(encoded, encMarker-byte(padCount))
	}
	return encoded
}

// DecodeBytes decodes one memcomparable byte string at the start of b and
// returns the rest of b after it, and the decoded bytes.
func DecodeBytes(b []byte) ([]byte, []byte, error) {
	data := make([]byte, 0, len(b))
	for {
		if len(b) < encGroupSize+1 {
			return nil, nil, fmt.Errorf("codec: insufficient bytes to decode %x", b)
		}
		group := b[:encGroupSize]
		marker := b[encGroupSize]
		padCount := encMarker - marker
		if padCount > encGroupSize {
			return nil, nil, fmt.Errorf("codec: invalid marker byte %#x in group %x", marker, b[:encGroupSize+1])
		}
		realGroupSize := encGroupSize - int(padCount)
		data = append(data, group[:realGroupSize]...)
		b = b[encGroupSize+1:]
		if padCount != 0 {
			for _, pad := range group[realGroupSize:] {
				if pad != encPad {
					return nil, nil, fmt.Errorf("codec: invalid padding byte %#x in group %x", pad, group)
				}
			}
			return b, data, nil
		}
	}
}

const signMask uint64 = 0x8000000000000000

// EncodeIntToCmpUint makes an int64 sort correctly as a uint64.
func EncodeIntToCmpUint(v int64) uint64 {
	return uint64(v) ^ signMask
}

// DecodeCmpUintToInt reverses EncodeIntToCmpUint.
func DecodeCmpUintToInt(u uint64) int64 {
	return int64(u ^ signMask)
}

// EncodeInt appends the memcomparable encoding of v to b.
func EncodeInt(b []byte, v int64) []byte {
	return binary.BigEndian.AppendUint64(b, EncodeIntToCmpUint(v))
}

// DecodeInt decodes an int64 from the start of b and returns the rest.
func DecodeInt(b []byte) ([]byte, int64, error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("codec: insufficient bytes to decode an int: %x", b)
	}
	return b[8:], DecodeCmpUintToInt(binary.BigEndian.Uint64(b)), nil
}

// EncodeUint appends the memcomparable (big-endian) encoding of v to b.
func EncodeUint(b []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(b, v)
}

// EncodeUintDesc appends an encoding of v that sorts in descending order.
func EncodeUintDesc(b []byte, v uint64) []byte {
	return binary.BigEndian.AppendUint64(b, ^v)
}

// DecodeUint decodes a uint64 from the start of b and returns the rest.
func DecodeUint(b []byte) ([]byte, uint64, error) {
	if len(b) < 8 {
		return nil, 0, fmt.Errorf("codec: insufficient bytes to decode a uint: %x", b)
	}
	return b[8:], binary.BigEndian.Uint64(b), nil
}

// DecodeUintDesc decodes a value written by EncodeUintDesc and returns the rest.
func DecodeUintDesc(b []byte) ([]byte, uint64, error) {
	rest, v, err := DecodeUint(b)
	return rest, ^v, err
}
