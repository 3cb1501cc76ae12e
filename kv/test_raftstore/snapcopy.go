package test_raftstore

import (
	"fmt"
	"io"

	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// copySnapshot streams the files of msg's snapshot from the sending store's
// snap directory into the receiving store's, as the snap runner does over
// gRPC, and returns the bytes copied. Both uses are registered with the
// managers so that neither store deletes the files meanwhile.
func copySnapshot(from, to *snap.SnapManager, msg *raft_serverpb.RaftMessage) (uint64, error) {
	snapshot := msg.GetMessage().GetSnapshot()
	if snapshot == nil {
		return 0, fmt.Errorf("snapshot message without a snapshot")
	}
	key := snap.SnapKeyFromRegionSnap(msg.GetRegionId(), snapshot)
	if err := key.Validate(); err != nil {
		return 0, err
	}

	from.Register(key, snap.SnapEntrySending)
	defer from.Deregister(key, snap.SnapEntrySending)
	src, err := from.GetSnapshotForSending(key)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	if !src.Exists() {
		return 0, fmt.Errorf("snapshot %s is gone from the sender", key)
	}

	if !to.TryRegister(key, snap.SnapEntryReceiving) {
		return 0, fmt.Errorf("snapshot %s is being received already", key)
	}
	defer to.Deregister(key, snap.SnapEntryReceiving)
	dst, err := to.GetSnapshotForReceiving(key, snapshot.GetData())
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	if dst.Exists() {
		return 0, nil // received before; the receiver applies the files it has
	}
	n, err := io.Copy(dst, src)
	if err != nil {
		return 0, err
	}
	if err := dst.Save(); err != nil {
		return 0, err
	}
	return uint64(n), nil
}
