package raftstore

import (
	"context"
	"time"

	"github.com/Connor1996/badger"
	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/kv/config"
	"github.com/tinykv-lab/tinykv/kv/raftstore/meta"
	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/kv/raftstore/snap"
	"github.com/tinykv-lab/tinykv/kv/util/engine_util"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/raft_serverpb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// Node is a store as the cluster sees it: it makes sure the store is
// registered with the scheduler (bootstrapping the cluster when it is the
// first store), then runs the raftstore.
type Node struct {
	clusterID       uint64
	store           *metapb.Store
	cfg             *config.Config
	system          *Raftstore
	schedulerClient scheduler_client.Client
}

// NewNode makes a node for the store served at cfg.StoreAddr.
func NewNode(system *Raftstore, cfg *config.Config, schedulerClient scheduler_client.Client) *Node {
	return &Node{
		clusterID: schedulerClient.GetClusterID(context.TODO()),
		store: &metapb.Store{
			Address: cfg.StoreAddr,
		},
		cfg:             cfg,
		system:          system,
		schedulerClient: schedulerClient,
	}
}

// Start bootstraps the store if needed and starts it.
func (n *Node) Start(ctx context.Context, engines *engine_util.Engines, trans Transport, snapMgr *snap.SnapManager) error {
	storeID, err := n.checkStore(engines)
	if err != nil {
		return err
	}
	if storeID == 0 {
		storeID, err = n.bootstrapStore(ctx, engines)
		if err != nil {
			return err
		}
	}
	n.store.Id = storeID

	firstRegion, err := n.checkOrPrepareBootstrapCluster(ctx, engines, storeID)
	if err != nil {
		return err
	}
	if firstRegion != nil {
		if err := n.bootstrapCluster(ctx, engines, firstRegion); err != nil {
			return err
		}
	}
	if err := n.schedulerClient.PutStore(ctx, n.store); err != nil {
		return err
	}
	return n.system.start(n.store, n.cfg, engines, trans, n.schedulerClient, snapMgr)
}

// checkStore returns the store id written in the engines, 0 for a new store.
func (n *Node) checkStore(engines *engine_util.Engines) (uint64, error) {
	ident := new(raft_serverpb.StoreIdent)
	err := engine_util.GetMeta(engines.Kv, meta.StoreIdentKey, ident)
	if err != nil {
		if err == badger.ErrKeyNotFound {
			return 0, nil
		}
		return 0, err
	}
	if ident.ClusterId != n.clusterID {
		return 0, errors.Errorf("cluster ID mismatch, local %d != remote %d", ident.ClusterId, n.clusterID)
	}
	if ident.StoreId == 0 {
		return 0, errors.Errorf("invalid store ident %s", ident)
	}
	return ident.StoreId, nil
}

func (n *Node) bootstrapStore(ctx context.Context, engines *engine_util.Engines) (uint64, error) {
	storeID, err := n.schedulerClient.AllocID(ctx)
	if err != nil {
		return 0, err
	}
	log.Infof("[store] alloc store id %d", storeID)
	if err := BootstrapStore(engines, n.clusterID, storeID); err != nil {
		return 0, err
	}
	return storeID, nil
}

// checkOrPrepareBootstrapCluster returns the first region when this store
// must bootstrap the cluster with it, creating it if needed.
func (n *Node) checkOrPrepareBootstrapCluster(ctx context.Context, engines *engine_util.Engines, storeID uint64) (*metapb.Region, error) {
	var state raft_serverpb.RegionLocalState
	if err := engine_util.GetMeta(engines.Kv, meta.PrepareBootstrapKey, &state); err == nil {
		return state.Region, nil
	}
	bootstrapped, err := n.schedulerClient.IsBootstrapped(ctx)
	if err != nil {
		return nil, err
	}
	if bootstrapped {
		return nil, nil
	}
	return n.prepareBootstrapCluster(ctx, engines, storeID)
}

func (n *Node) prepareBootstrapCluster(ctx context.Context, engines *engine_util.Engines, storeID uint64) (*metapb.Region, error) {
	regionID, err := n.schedulerClient.AllocID(ctx)
	if err != nil {
		return nil, err
	}
	log.Infof("[store] alloc first region id, regionID: %d, clusterID: %d, storeID: %d", regionID, n.clusterID, storeID)
	peerID, err := n.schedulerClient.AllocID(ctx)
	if err != nil {
		return nil, err
	}
	log.Infof("[store] alloc first peer id for first region, peerID: %d, regionID: %d", peerID, regionID)

	return PrepareBootstrap(engines, storeID, regionID, peerID)
}

// bootstrapCluster reports the first region to the scheduler; if another
// store won the race, it undoes its own first region.
func (n *Node) bootstrapCluster(ctx context.Context, engines *engine_util.Engines, firstRegion *metapb.Region) error {
	regionID := firstRegion.GetId()
	for retry := 0; retry < maxCheckClusterBootstrappedRetryCount; retry++ {
		if retry != 0 {
			time.Sleep(time.Second)
		}

		res, err := n.schedulerClient.Bootstrap(ctx, n.store, firstRegion)
		if err != nil {
			log.Errorf("[store] bootstrap cluster failed, clusterID: %d, err: %v", n.clusterID, err)
			continue
		}
		resErr := res.Header.Error
		if resErr == nil {
			log.Infof("[store] bootstrap cluster ok, clusterID: %d", n.clusterID)
			return ClearPrepareBootstrapState(engines)
		}
		if resErr.GetType() == schedulerpb.ErrorType_ALREADY_BOOTSTRAPPED {
			region, _, err := n.schedulerClient.GetRegion(ctx, []byte{})
			if err != nil {
				log.Errorf("[store] get first region failed, err: %v", err)
				continue
			}
			if region.GetId() == regionID {
				return ClearPrepareBootstrapState(engines)
			}
			log.Infof("[store] cluster is already bootstrapped, clusterID: %v", n.clusterID)
			return ClearPrepareBootstrap(engines, regionID)
		}
		log.Errorf("[store] bootstrap cluster, clusterID: %v, err: %v", n.clusterID, resErr)
	}
	return errors.New("bootstrap cluster failed")
}

const maxCheckClusterBootstrappedRetryCount = 60

// Stop stops the raftstore; the engines stay open (their owner closes them).
func (n *Node) Stop() {
	n.system.shutDown()
}

// GetStoreID is the id of the node's store.
func (n *Node) GetStoreID() uint64 {
	return n.store.GetId()
}

// GetDBPath is the directory of the store's data.
func (n *Node) GetDBPath() string {
	return n.cfg.DBPath
}
