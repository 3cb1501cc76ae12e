package mvcc

import (
	"encoding/binary"
	"fmt"

	"github.com/tinykv-lab/tinykv/proto/pkg/kvrpcpb"
)

// lockSuffixSize is the length of an encoded Lock after its primary key:
// kind, start ts and TTL.
const lockSuffixSize = 1 + 8 + 8

// Lock is a record of the lock column family, stored under the raw user key.
// A prewrite leaves one on every key it writes; commit or rollback removes
// it. Primary names the key whose fate decides the whole transaction.
type Lock struct {
	Primary []byte
	Ts      uint64
	Ttl     uint64
	Kind    WriteKind
}

// ToBytes encodes the lock: primary key, kind (1 byte), start ts and TTL
// (8 bytes big-endian each).
func (lock *Lock) ToBytes() []byte {
	buf := make([]byte, 0, len(lock.Primary)+lockSuffixSize)
	buf = append(buf, lock.Primary...)
	buf = append(buf, byte(lock.Kind))
	buf = binary.BigEndian.AppendUint64(buf, lock.Ts)
	return binary.BigEndian.AppendUint64(buf, lock.Ttl)
}

// ParseLock decodes a value of the lock column family. The primary key is
// everything but the last 17 bytes.
func ParseLock(input []byte) (*Lock, error) {
	if len(input) < lockSuffixSize {
		return nil, fmt.Errorf("mvcc: lock record of %d bytes, want at least %d: %x", len(input), lockSuffixSize, input)
	}
	suffix := input[len(input)-lockSuffixSize:]
	kind := WriteKind(suffix[0])
	if !kind.valid() {
		return nil, fmt.Errorf("mvcc: lock record with unknown kind %d: %x", suffix[0], input)
	}
	return &Lock{
		Primary: append([]byte{}, input[:len(input)-lockSuffixSize]...),
		Kind:    kind,
		Ts:      binary.BigEndian.Uint64(suffix[1:9]),
		Ttl:     binary.BigEndian.Uint64(suffix[9:]),
	}, nil
}

// Info describes the lock on key for a client that ran into it.
func (lock *Lock) Info(key []byte) *kvrpcpb.LockInfo {
	return &kvrpcpb.LockInfo{
		PrimaryLock: lock.Primary,
		LockVersion: lock.Ts,
		Key:         key,
		LockTtl:     lock.Ttl,
	}
}

// IsExpired reports whether the lock's TTL (in milliseconds of physical
// time, counted from its start ts) has run out at currentTs.
func (lock *Lock) IsExpired(currentTs uint64) bool {
	return PhysicalTime(lock.Ts)+lock.Ttl <= PhysicalTime(currentTs)
}

// KeyLockedError is what a reader at some ts gets for a key locked by a
// transaction that started at or before that ts: the transaction may yet
// commit below the reader's ts, so the reader cannot know the value until
// the lock is resolved.
type KeyLockedError struct {
	Key  []byte
	Lock *Lock
}

func (e *KeyLockedError) Error() string {
	return fmt.Sprintf("key %x is locked by transaction %d (primary %x, ttl %d)", e.Key, e.Lock.Ts, e.Lock.Primary, e.Lock.Ttl)
}

// KeyError is the error in the form of the transactional API.
func (e *KeyLockedError) KeyError() *kvrpcpb.KeyError {
	return &kvrpcpb.KeyError{Locked: e.Lock.Info(e.Key)}
}
