// Package scheduler_client is what a store needs of the scheduler: ids,
// bootstrap, store and region lookups, and the heartbeats through which the
// store reports its regions and receives the scheduler's orders (change a
// peer, transfer a leader). Tests implement it with a mock; tinykv-server
// uses the gRPC client.
package scheduler_client

import (
	"context"

	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
)

// Client talks to the scheduler.
type Client interface {
	// GetClusterID is the id of the cluster the scheduler serves.
	GetClusterID(ctx context.Context) uint64
	// AllocID allocates an id unique in the cluster (stores, regions, peers).
	AllocID(ctx context.Context) (uint64, error)
	// Bootstrap records the cluster's first store and region.
	Bootstrap(ctx context.Context, store *metapb.Store, region *metapb.Region) (*schedulerpb.BootstrapResponse, error)
	// IsBootstrapped reports whether the cluster has been bootstrapped.
	IsBootstrapped(ctx context.Context) (bool, error)
	// PutStore registers or updates a store.
	PutStore(ctx context.Context, store *metapb.Store) error
	// GetStore looks a store up by id.
	GetStore(ctx context.Context, storeID uint64) (*metapb.Store, error)
	// GetRegion returns the region containing key and its leader.
	GetRegion(ctx context.Context, key []byte) (*metapb.Region, *metapb.Peer, error)
	// GetRegionByID returns a region and its leader.
	GetRegionByID(ctx context.Context, regionID uint64) (*metapb.Region, *metapb.Peer, error)
	// AskSplit allocates the ids of the new region and its peers for a split.
	AskSplit(ctx context.Context, region *metapb.Region) (*schedulerpb.AskSplitResponse, error)
	// StoreHeartbeat reports the store's statistics.
	StoreHeartbeat(ctx context.Context, stats *schedulerpb.StoreStats) error
	// RegionHeartbeat reports a region's state from its leader.
	RegionHeartbeat(*schedulerpb.RegionHeartbeatRequest) error
	// SetRegionHeartbeatResponseHandler installs the function that receives
	// the scheduler's orders for regions of storeID.
	SetRegionHeartbeatResponseHandler(storeID uint64, h func(*schedulerpb.RegionHeartbeatResponse))
	// Close releases the client.
	Close()
}
