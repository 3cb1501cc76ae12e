package util

import (
	"fmt"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// Region errors: a request reached the wrong store, the wrong peer or an
// out-of-date view of a region. Each maps to a field of errorpb.Error
// (RaftstoreErrToPbError) so the client knows how to retry.

// ErrNotLeader: this peer is not the region's leader; Leader is the leader
// when known.
type ErrNotLeader struct {
	RegionId uint64
	Leader   *metapb.Peer
}

func (e *ErrNotLeader) Error() string {
	return fmt.Sprintf("region %v is not leader", e.RegionId)
}

// ErrRegionNotFound: this store has no peer of the region.
type ErrRegionNotFound struct {
	RegionId uint64
}

func (e *ErrRegionNotFound) Error() string {
	return fmt.Sprintf("region %v is not found", e.RegionId)
}

// ErrKeyNotInRegion: the key lies outside the region's range.
type ErrKeyNotInRegion struct {
	Key    []byte
	Region *metapb.Region
}

func (e *ErrKeyNotInRegion) Error() string {
	return fmt.Sprintf("key %v is not in region %v", e.Key, e.Region)
}

// ErrEpochNotMatch: the request was made for another version of the
// region (it split, or its peers changed); Regions are the current ones.
type ErrEpochNotMatch struct {
	Message string
	Regions []*metapb.Region
}

func (e *ErrEpochNotMatch) Error() string {
	return fmt.Sprintf("epoch not match, error msg %v, regions %v", e.Message, e.Regions)
}

// ErrServerIsBusy: the store cannot take more work now.
type ErrServerIsBusy struct {
	Reason    string
	BufferCnt uint64
}

func (e *ErrServerIsBusy) Error() string {
	return fmt.Sprintf("server is busy, reason %v, buffer cnt %v", e.Reason, e.BufferCnt)
}

// ErrStaleCommand: the proposal was dropped (a new leader overwrote its
// log entry, or the peer was removed); the client may retry.
type ErrStaleCommand struct{}

func (e *ErrStaleCommand) Error() string {
	return "stale command"
}

// ErrStoreNotMatch: the request was sent for another store.
type ErrStoreNotMatch struct {
	RequestStoreId uint64
	ActualStoreId  uint64
}

func (e *ErrStoreNotMatch) Error() string {
	return fmt.Sprintf("store not match, request store id is %v, but actual store id is %v", e.RequestStoreId, e.ActualStoreId)
}

// ErrTimeout is returned by callers that gave up waiting for a proposal.
var ErrTimeout = errors.New("timeout")
