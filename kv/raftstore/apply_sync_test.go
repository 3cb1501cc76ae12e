package raftstore

import (
	"testing"

	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/eraftpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// Applying writes leaves kvdb unsynced (the raft log replays them); a
// batch with an admin command is synced, as the peer acts on it at once.
func TestApplySyncsOnlyAdminBatches2B(t *testing.T) {
	region := applyTestRegion()
	cases := []struct {
		name  string
		admin func(t *testing.T, region *metapb.Region) eraftpb.Entry
	}{
		{"compact log", func(t *testing.T, region *metapb.Region) eraftpb.Entry {
			return commandEntry(t, 7, newCompactLogRequest(1, region.Peers[0], 6, applyTestTerm))
		}},
		{"split", func(t *testing.T, region *metapb.Region) eraftpb.Entry {
			return splitEntry(t, 7, region, &raft_cmdpb.SplitRequest{SplitKey: []byte("m"), NewRegionId: 10, NewPeerIds: []uint64{11, 12, 13}})
		}},
		{"conf change", func(t *testing.T, region *metapb.Region) eraftpb.Entry {
			return confChangeEntry(t, 7, region, region.RegionEpoch, eraftpb.ConfChangeType_AddNode, &metapb.Peer{Id: 4, StoreId: 4})
		}},
	}
	for _, tc := range cases {
		ctx := newApplyTestContext(t, region)
		newApplier(ctx).applyEntries([]eraftpb.Entry{putEntry(t, 6, region, region.RegionEpoch, "b")})
		if n := engine_util.UnsyncedBatches(ctx.engines.Kv); n != 1 {
			t.Fatalf("%s: expected the batch of a put left unsynced, got %d unsynced batches", tc.name, n)
		}
		newApplier(ctx).applyEntries([]eraftpb.Entry{tc.admin(t, region)})
		if n := engine_util.UnsyncedBatches(ctx.engines.Kv); n != 0 {
			t.Errorf("%s: expected the batch synced, %d batches still unsynced", tc.name, n)
		}
		if got := storedAppliedIndex(t, ctx, region.Id); got != 7 {
			t.Errorf("%s: expected applied index 7 stored, got %d", tc.name, got)
		}
	}
}
