package codec

import (
	"bytes"
	"math/rand"
	"sort"
	"testing"
)

func TestEncodeBytesKnownValues(t *testing.T) {
	cases := []struct {
		in, want []byte
	}{
		{[]byte{}, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0xF7}},
		{[]byte{1, 2, 3}, []byte{1, 2, 3, 0, 0, 0, 0, 0, 0xFA}},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0, 0xF7}},
		{[]byte{1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte{1, 2, 3, 4, 5, 6, 7, 8, 0xFF, 9, 0, 0, 0, 0, 0, 0, 0, 0xF8}},
	}
	for _, c := range cases {
		if got := EncodeBytes(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("EncodeBytes(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}

func TestBytesRoundTripAndOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	inputs := make([][]byte, 500)
	for i := range inputs {
		inputs[i] = make([]byte, rng.Intn(30))
		rng.Read(inputs[i])
		// Many zero bytes make the padding rules matter.
		for j := range inputs[i] {
			if rng.Intn(3) == 0 {
				inputs[i][j] = 0
			}
		}
	}
	for _, in := range inputs {
		rest, out, err := DecodeBytes(append(EncodeBytes(in), 0xAB))
		if err != nil || !bytes.Equal(out, in) || !bytes.Equal(rest, []byte{0xAB}) {
			t.Fatalf("round trip of %x gave %x, rest %x, err %v", in, out, rest, err)
		}
	}
	sort.Slice(inputs, func(i, j int) bool { return bytes.Compare(inputs[i], inputs[j]) < 0 })
	for i := 1; i < len(inputs); i++ {
		a, b := EncodeBytes(inputs[i-1]), EncodeBytes(inputs[i])
		if bytes.Compare(a, b) > 0 {
			t.Fatalf("order broken: %x < %x but encodings %x > %x", inputs[i-1], inputs[i], a, b)
		}
	}
}

func TestDecodeBytesRejectsBadInput(t *testing.T) {
	bad := [][]byte{
		{1, 2, 3},                      // too short
		{1, 2, 3, 4, 5, 6, 7, 8, 0xF0}, // marker says 15 pad bytes
		{1, 2, 3, 4, 5, 6, 7, 8, 0xF8}, // marker says 7 pad bytes, but they are not zero
		{1, 2, 3, 4, 5, 6, 7, 8, 0xFF}, // full group, then nothing
	}
	for _, b := range bad {
		if _, _, err := DecodeBytes(b); err == nil {
			t.Errorf("DecodeBytes(%x) succeeded, want an error", b)
		}
	}
}

func TestIntegersRoundTripAndOrder(t *testing.T) {
	ints := []int64{-1 << 63, -5, -1, 0, 1, 7, 1<<63 - 1}
	for i, v := range ints {
		enc := EncodeInt(nil, v)
		if _, got, err := DecodeInt(enc); err != nil || got != v {
			t.Fatalf("int %d decoded as %d, %v", v, got, err)
		}
		if i > 0 && bytes.Compare(EncodeInt(nil, ints[i-1]), enc) >= 0 {
			t.Fatalf("int order broken between %d and %d", ints[i-1], v)
		}
	}
	uints := []uint64{0, 1, 300, 1<<64 - 1}
	for i, v := range uints {
		if _, got, err := DecodeUint(EncodeUint(nil, v)); err != nil || got != v {
			t.Fatalf("uint %d decoded as %d, %v", v, got, err)
		}
		if _, got, err := DecodeUintDesc(EncodeUintDesc(nil, v)); err != nil || got != v {
			t.Fatalf("desc uint %d decoded as %d, %v", v, got, err)
		}
		if i > 0 && bytes.Compare(EncodeUintDesc(nil, uints[i-1]), EncodeUintDesc(nil, v)) <= 0 {
			t.Fatalf("descending order broken between %d and %d", uints[i-1], v)
		}
	}
	if _, _, err := DecodeUint([]byte{1}); err == nil {
		t.Fatal("DecodeUint of one byte succeeded")
	}
}
