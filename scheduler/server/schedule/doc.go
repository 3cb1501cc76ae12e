// Package schedule decides what to change in the cluster and sees the
// changes through.
//
// An Operator is a short plan for one region: a list of steps (AddPeer,
// RemovePeer, TransferLeader), each of which knows when a region heartbeat
// shows it done. The OperatorController runs at most one operator per
// region: on every heartbeat of the region it sends the first step not yet
// done to the region's leader (again and again until it is seen done), ends
// the operator when all steps are done or it times out, lets a
// higher-priority operator replace a lower one, and remembers the last
// ended operators for GetOperator.
//
// A store is judged by its last heartbeat (StoreStateName): a store silent
// for store-disconnect-time is Disconnected and one silent for
// max-store-down-time is Down. Nothing new goes to a store that is not
// CanReceive (Down, Disconnected, Offline, Tombstone): schedulers and the
// checker do not pick it as a target, the controller refuses an operator
// with a step towards it and cancels one whose next step is.
//
// The ReplicaChecker repairs one region at a time (missing, extra, lost or
// offline replicas). Schedulers (package schedulers) balance the whole
// cluster. The Coordinator ties them together: it patrols the regions with
// the checker and runs the schedulers periodically, once the region cache
// is warm.
//
// Wiring in the server (RaftCluster):
//
//	cluster implements Cluster: embed *core.BasicCluster and
//	    *config.ScheduleOption, add AllocPeer(storeID) (*metapb.Peer, error)
//	c := schedule.NewCoordinator(cluster, hbStreams) // hbStreams: HeartbeatStreams or nil
//	schedulers.AddDefaults(c)                        // balance-leader, balance-region
//	go c.Run(ctx)                                    // until ctx is done
//
//	on each region heartbeat, after processRegionHeartbeat accepted it:
//	    if resp := c.OnRegionHeartbeat(region); resp != nil {
//	        resp.Header = header; send resp on the stream of region.GetLeader().GetStoreId()
//	    }
//	GetOperator(region id): op := c.GetOperatorController().GetOperatorStatus(id)
//	    (nil: none; op.Desc(), op.Status(), op.Kind().String())
//
// The store statistics the checkers rely on (up/offline/tombstone, last
// heartbeat time, region counts and sizes) come from core.BasicCluster: the
// server puts stores with their heartbeat time (StoreInfo.Clone with
// core.SetStoreStats and core.SetLastHeartbeatTS) and regions with PutRegion.
package schedule
