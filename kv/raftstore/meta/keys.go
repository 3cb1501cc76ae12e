// Package meta names the keys under which a store keeps its raft and region
// states, and reads those states back.
//
// Every local key starts with LocalPrefix (0x01), so local keys sort before
// all user data (user keys are prefixed by their column family name).
//
//	raftdb: RegionRaftPrefixKey(region) + 0x01 + index  → eraftpb.Entry
//	raftdb: RegionRaftPrefixKey(region) + 0x02          → RaftLocalState
//	kvdb:   RegionRaftPrefixKey(region) + 0x03          → RaftApplyState
//	kvdb:   RegionMetaPrefixKey(region) + 0x01          → RegionLocalState
//	kvdb:   PrepareBootstrapKey, StoreIdentKey
package meta

import (
	"bytes"
	"encoding/binary"

	"github.com/pingcap/errors"
)

const (
	// LocalPrefix starts every local (non-user) key.
	LocalPrefix byte = 0x01

	// RegionRaftPrefix and RegionMetaPrefix follow LocalPrefix.
	RegionRaftPrefix    byte = 0x02
	RegionMetaPrefix    byte = 0x03
	RegionRaftPrefixLen      = 11 // LocalPrefix + RegionRaftPrefix + regionID
	RegionRaftLogLen         = 19 // RegionRaftPrefixLen + suffix + index

	// Suffixes after the region id.
	RaftLogSuffix    byte = 0x01
	RaftStateSuffix  byte = 0x02
	ApplyStateSuffix byte = 0x03

	// RegionStateSuffix follows the region id of a meta key.
	RegionStateSuffix byte = 0x01
)

var (
	MinKey           = []byte{}
	MaxKey           = []byte{255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255}
	LocalMinKey      = []byte{LocalPrefix}
	LocalMaxKey      = []byte{LocalPrefix + 1}
	RegionMetaMinKey = []byte{LocalPrefix, RegionMetaPrefix}
	RegionMetaMaxKey = []byte{LocalPrefix, RegionMetaPrefix + 1}

	// PrepareBootstrapKey marks a store that started bootstrapping its first
	// region but has not finished (the scheduler was not told yet).
	PrepareBootstrapKey = []byte{LocalPrefix, 0x01}
	// StoreIdentKey holds the StoreIdent of a bootstrapped store.
	StoreIdentKey = []byte{LocalPrefix, 0x02}
)

func makeRegionPrefix(regionID uint64, suffix byte) []byte {
	key := make([]byte, 11)
	key[0] = LocalPrefix
	key[1] = RegionRaftPrefix
	binary.BigEndian.PutUint64(key[2:10], regionID)
	key[10] = suffix
	return key
}

func makeRegionKey(regionID uint64, suffix byte, subID uint64) []byte {
	key := make([]byte, 19)
	key[0] = LocalPrefix
	key[1] = RegionRaftPrefix
	binary.BigEndian.PutUint64(key[2:10], regionID)
	key[10] = suffix
	binary.BigEndian.PutUint64(key[11:], subID)
	return key
}

// RegionRaftPrefixKey is the prefix of every raft key of the region.
func RegionRaftPrefixKey(regionID uint64) []byte {
	key := make([]byte, 10)
	key[0] = LocalPrefix
	key[1] = RegionRaftPrefix
	binary.BigEndian.PutUint64(key[2:], regionID)
	return key
}

// RaftLogKey is the key of the region's log entry at index.
func RaftLogKey(regionID, index uint64) []byte {
	return makeRegionKey(regionID, RaftLogSuffix, index)
}

// RaftStateKey is the key of the region's RaftLocalState (raftdb).
func RaftStateKey(regionID uint64) []byte {
	return makeRegionPrefix(regionID, RaftStateSuffix)
}

// ApplyStateKey is the key of the region's RaftApplyState (kvdb).
func ApplyStateKey(regionID uint64) []byte {
	return makeRegionPrefix(regionID, ApplyStateSuffix)
}

// IsRaftStateKey reports whether key is some region's raft state key.
func IsRaftStateKey(key []byte) bool {
	return len(key) == 11 && key[0] == LocalPrefix && key[1] == RegionRaftPrefix && key[10] == RaftStateSuffix
}

// DecodeRegionMetaKey returns the region id and suffix of a region meta key.
func DecodeRegionMetaKey(key []byte) (uint64, byte, error) {
	if len(RegionMetaMinKey)+8+1 != len(key) {
		return 0, 0, errors.Errorf("invalid region meta key length for key %v", key)
	}
	if !bytes.HasPrefix(key, RegionMetaMinKey) {
		return 0, 0, errors.Errorf("invalid region meta key prefix for key %v", key)
	}
	regionID := binary.BigEndian.Uint64(key[len(RegionMetaMinKey) : len(RegionMetaMinKey)+8])
	return regionID, key[len(key)-1], nil
}

// RegionMetaPrefixKey is the prefix of every meta key of the region.
func RegionMetaPrefixKey(regionID uint64) []byte {
	key := make([]byte, 10)
	key[0] = LocalPrefix
	key[1] = RegionMetaPrefix
	binary.BigEndian.PutUint64(key[2:], regionID)
	return key
}

// RegionStateKey is the key of the region's RegionLocalState (kvdb).
func RegionStateKey(regionID uint64) []byte {
	key := make([]byte, 11)
	key[0] = LocalPrefix
	key[1] = RegionMetaPrefix
	binary.BigEndian.PutUint64(key[2:10], regionID)
	key[10] = RegionStateSuffix
	return key
}

// RaftLogIndex returns the index of a raft log key.
func RaftLogIndex(key []byte) (uint64, error) {
	if len(key) != RegionRaftLogLen {
		return 0, errors.Errorf("key %v is not a valid raft log key", key)
	}
	return binary.BigEndian.Uint64(key[RegionRaftLogLen-8:]), nil
}
