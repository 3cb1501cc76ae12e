package test_raftstore

import (
	"time"

	"github.com/Connor1996/badger"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_cmdpb"
)

// The surface course tests are written against (go-surface.md, section
// kv/test_raftstore): a change of name or signature breaks this file's
// build before it breaks theirs.
var (
	_ func(int, *config.Config) *Cluster                                                                   = NewTestCluster
	_ func(*metapb.Region, uint64) *metapb.Peer                                                            = FindPeer
	_ func(uint64, uint64) *metapb.Peer                                                                    = NewPeer
	_ func(string, []byte) *raft_cmdpb.Request                                                             = NewGetCfCmd
	_ func(*engine_util.Engines, string, []byte, []byte)                                                   = MustGetCfEqual
	_ func(*engine_util.Engines, string, []byte)                                                           = MustGetCfNone
	_ func(*engine_util.Engines, []byte, []byte)                                                           = MustGetEqual
	_ func(*engine_util.Engines, []byte)                                                                   = MustGetNone
	_ func(*Cluster, Filter)                                                                               = (*Cluster).AddFilter
	_ func(*Cluster)                                                                                       = (*Cluster).ClearFilters
	_ func(*Cluster, uint64) *metapb.Peer                                                                  = (*Cluster).AllocPeer
	_ func(*Cluster) *metapb.Region                                                                        = (*Cluster).GetRandomRegion
	_ func(*Cluster, []byte) *metapb.Region                                                                = (*Cluster).GetRegion
	_ func(*Cluster, uint64) *metapb.Peer                                                                  = (*Cluster).LeaderOfRegion
	_ func(*Cluster, uint64, *metapb.Peer)                                                                 = (*Cluster).MustAddPeer
	_ func(*Cluster, uint64, *metapb.Peer)                                                                 = (*Cluster).MustRemovePeer
	_ func(*Cluster, uint64, *metapb.Peer)                                                                 = (*Cluster).MustTransferLeader
	_ func(*Cluster, []byte)                                                                               = (*Cluster).MustDelete
	_ func(*Cluster, string, []byte)                                                                       = (*Cluster).MustDeleteCF
	_ func(*Cluster, []byte, []byte)                                                                       = (*Cluster).MustGet
	_ func(*Cluster, []byte, []byte)                                                                       = (*Cluster).MustPut
	_ func(*Cluster, string, []byte, []byte)                                                               = (*Cluster).MustPutCF
	_ func(*Cluster, []byte, []byte) [][]byte                                                              = (*Cluster).Scan
	_ func(*Cluster)                                                                                       = (*Cluster).Start
	_ func(*Cluster)                                                                                       = (*Cluster).Shutdown
	_ func(*Cluster, uint64)                                                                               = (*Cluster).StartServer
	_ func(*Cluster, uint64)                                                                               = (*Cluster).StopServer
	_ func(uint64, *metapb.RegionEpoch, []*raft_cmdpb.Request) raft_cmdpb.RaftCmdRequest                   = NewRequest
	_ func(*Cluster, *raft_cmdpb.RaftCmdRequest, time.Duration) (*raft_cmdpb.RaftCmdResponse, *badger.Txn) = (*Cluster).CallCommandOnLeader

	_ Filter = &PartitionFilter{s1: []uint64{1}, s2: []uint64{2}}
	_ Filter = &DropFilter{}
)

// contractFields uses the unexported fields course tests reach.
func contractFields(c *Cluster) (int, *engine_util.Engines, map[uint64]*raftstore.Node) {
	return c.count, c.engines[1], c.simulator.(*NodeSimulator).nodes
}

var _ = contractFields
