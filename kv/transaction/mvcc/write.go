package mvcc

import (
	"encoding/binary"
	"fmt"

	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// WriteKind says what a record in the write column family did to its key.
type WriteKind byte

// The kinds of a write record. The numbers are part of the storage format.
const (
	WriteKindPut      WriteKind = 1
	WriteKindDelete   WriteKind = 2
	WriteKindRollback WriteKind = 3
)

// writeSize is the length of an encoded Write: kind, then start ts.
const writeSize = 1 + 8

// Write is a record of the write column family. It is stored under
// EncodeKey(key, commit ts) and points at the value the transaction that
// started at StartTS wrote in the default column family (for a Put). A
// rollback is stored under its own start ts and points at nothing.
type Write struct {
	StartTS uint64
	Kind    WriteKind
}

// ToBytes encodes the write: kind (1 byte), start ts (8 bytes big-endian).
func (wr *Write) ToBytes() []byte {
	buf := make([]byte, 0, writeSize)
	buf = append(buf, byte(wr.Kind))
	return binary.BigEndian.AppendUint64(buf, wr.StartTS)
}

// ParseWrite decodes a value of the write column family.
func ParseWrite(value []byte) (*Write, error) {
	if len(value) != writeSize {
		return nil, fmt.Errorf("mvcc: write record of %d bytes, want %d: %x", len(value), writeSize, value)
	}
	kind := WriteKind(value[0])
	if !kind.valid() {
		return nil, fmt.Errorf("mvcc: write record with unknown kind %d: %x", value[0], value)
	}
	return &Write{StartTS: binary.BigEndian.Uint64(value[1:]), Kind: kind}, nil
}

func (wk WriteKind) valid() bool {
	return wk == WriteKindPut || wk == WriteKindDelete || wk == WriteKindRollback
}

func (wk WriteKind) String() string {
	switch wk {
	case WriteKindPut:
		return "Put"
	case WriteKindDelete:
		return "Delete"
	case WriteKindRollback:
		return "Rollback"
	}
	return fmt.Sprintf("WriteKind(%d)", byte(wk))
}

// ToProto is the mutation op that produces this kind of write.
func (wk WriteKind) ToProto() kvrpcpb.Op {
	switch wk {
	case WriteKindDelete:
		return kvrpcpb.Op_Del
	case WriteKindRollback:
		return kvrpcpb.Op_Rollback
	}
	return kvrpcpb.Op_Put
}

// WriteKindFromProto is the kind of write a prewritten mutation commits as.
// Only Put and Del mutations can be prewritten; other ops are an error.
func WriteKindFromProto(op kvrpcpb.Op) (WriteKind, error) {
	switch op {
	case kvrpcpb.Op_Put:
		return WriteKindPut, nil
	case kvrpcpb.Op_Del:
		return WriteKindDelete, nil
	}
	return 0, fmt.Errorf("op %v is not supported (want %v or %v)", op, kvrpcpb.Op_Put, kvrpcpb.Op_Del)
}
