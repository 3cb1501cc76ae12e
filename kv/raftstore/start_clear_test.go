//lab:file 3B

package raftstore

import (
	"testing"

	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
)

// A store starting again deletes the data that lies in none of its live
// regions (a peer destroyed right before a crash leaves its range behind:
// the tombstone is written before the data is deleted), in every column
// family, and keeps the data of its regions.
func TestStartDeletesDataOutsideItsRegions(t *testing.T) {
	ctx := newSplitTestStore(t)
	region := func(id uint64, start, end string) *metapb.Region {
		return &metapb.Region{
			Id: id, StartKey: []byte(start), EndKey: []byte(end),
			RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1},
			Peers:       []*metapb.Peer{{Id: id + 100, StoreId: 1}},
		}
	}
	kvWB := new(engine_util.WriteBatch)
	for _, r := range []*metapb.Region{region(1, "b", "d"), region(2, "f", "h")} {
		meta.WriteRegionState(kvWB, r, raft_serverpb.PeerState_Normal)
		if err := writeInitialApplyState(kvWB, r.Id); err != nil {
			t.Fatal(err)
		}
	}
	meta.WriteRegionState(kvWB, region(3, "d", "f"), raft_serverpb.PeerState_Tombstone)
	keys := map[string]bool{"a": false, "b": true, "c": true, "d": false, "e": false, "f": true, "g": true, "h": false, "z": false}
	for key := range keys {
		for _, cf := range engine_util.CFs {
			kvWB.SetCF(cf, []byte(key), []byte("v"))
		}
	}
	kvWB.MustWriteToDB(ctx.engine.Kv)

	peers, err := (&Raftstore{ctx: ctx}).loadPeers()
	if err != nil {
		t.Fatalf("load the peers: %v", err)
	}
	if len(peers) != 2 {
		t.Fatalf("loaded %d peers, want the 2 of regions [b, d) and [f, h)", len(peers))
	}
	for key, kept := range keys {
		for _, cf := range engine_util.CFs {
			_, err := engine_util.GetCF(ctx.engine.Kv, cf, []byte(key))
			if found := err == nil; found != kept {
				t.Errorf("after the start, key %q of cf %s present=%v, want %v (regions [b, d) and [f, h); [d, f) a tombstone)", key, cf, found, kept)
			}
		}
	}
}

// Nothing is deleted when live regions overlap (a corrupt store: which one
// is right is not for the start-up to guess); everything is when the store
// has no region at all.
func TestStartClearsOnlyAClearGap(t *testing.T) {
	for name, c := range map[string]struct {
		regions []*metapb.Region
		kept    bool
	}{
		"overlapping regions": {regions: []*metapb.Region{
			{Id: 1, StartKey: []byte("b"), EndKey: []byte("d"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 101, StoreId: 1}}},
			{Id: 2, StartKey: []byte("c"), EndKey: []byte("e"), RegionEpoch: &metapb.RegionEpoch{ConfVer: 1, Version: 1}, Peers: []*metapb.Peer{{Id: 102, StoreId: 1}}},
		}, kept: true},
		"no region": {kept: false},
	} {
		ctx := newSplitTestStore(t)
		kvWB := new(engine_util.WriteBatch)
		for _, r := range c.regions {
			meta.WriteRegionState(kvWB, r, raft_serverpb.PeerState_Normal)
			if err := writeInitialApplyState(kvWB, r.Id); err != nil {
				t.Fatal(err)
			}
		}
		kvWB.SetCF(engine_util.CfDefault, []byte("a"), []byte("v"))
		kvWB.MustWriteToDB(ctx.engine.Kv)
		if _, err := (&Raftstore{ctx: ctx}).loadPeers(); err != nil {
			t.Fatalf("%s: load the peers: %v", name, err)
		}
		_, err := engine_util.GetCF(ctx.engine.Kv, engine_util.CfDefault, []byte("a"))
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s: key \"a\" outside every region kept=%v, want %v", name, kept, c.kept)
		}
	}
}
