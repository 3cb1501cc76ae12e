//lab:file 3B

package raftstore

import (
	"testing"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
)

// Destroying a peer created by a message (no range yet) leaves the store's
// other regions in its view: the empty range once matched the item of the
// region that ends the key space, which was deleted with it, and the
// destroy of that region later panicked with "meta corruption detected"
// (a restarted store in kv/e2e TestKillStoreWithMostLeaders).
func TestDestroyUninitializedPeerKeepsTheLastRegion(t *testing.T) {
	ctx := newSplitTestStore(t)
	last := &metapb.Region{
		Id: 1, StartKey: []byte("m"), EndKey: nil,
		RegionEpoch: &metapb.RegionEpoch{ConfVer: 3, Version: 2},
		Peers:       []*metapb.Peer{{Id: 1, StoreId: 1}, {Id: 2, StoreId: 2}, {Id: 3, StoreId: 3}},
	}
	lastPeer := addTestPeer(t, ctx, last)
	empty := addEmptyTestPeer(t, ctx, 10, &metapb.Peer{Id: 11, StoreId: 1})

	newPeerMsgHandler(empty, ctx).destroyPeer()
	if _, ok := ctx.storeMeta.regionRanges.Get(regionItem{region: last}); !ok {
		t.Fatalf("after destroying the uninitialized peer of region 10, region 1 [%q, end) is gone from the store's ranges", last.StartKey)
	}
	newPeerMsgHandler(lastPeer, ctx).destroyPeer()
	if n := ctx.storeMeta.regionRanges.Len(); n != 0 {
		t.Errorf("expected no region left in the store's ranges, %d are", n)
	}
}
