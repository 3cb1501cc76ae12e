// Package core is the scheduler's in-memory model of the cluster: what it
// knows of every store and every region, kept up to date by the store and
// region heartbeats.
//
//   - RegionInfo is one region as its leader last reported it: the
//     metapb.Region (range, epoch, peers), the leader, the pending peers (not
//     yet caught up), the down peers, and the approximate size in bytes.
//   - StoreInfo is one store: its metapb.Store (address, state Up / Offline /
//     Tombstone), the last StoreStats it sent, when it last sent them, and
//     counters derived from the regions (how many regions and leaders it
//     holds and their total size, how many of its peers are pending).
//   - RegionsInfo indexes regions by id, by key range (a btree of
//     non-overlapping ranges) and, per store, by the role the store's peer
//     plays (leader, follower, pending) so that schedulers can pick a random
//     region of a store in constant time.
//   - BasicCluster puts stores and regions under one lock and keeps the
//     stores' counters in step with the regions: after PutRegion the region
//     and leader counts and sizes of every store involved are current.
//
// RegionInfo and StoreInfo are immutable: a change is a Clone with options
// (core.WithLeader(p), core.SetLastHeartbeatTS(t), ...) that is then put
// back. A value read from the cluster can thus be used without a lock while
// heartbeats replace it.
//
// The package knows nothing of etcd or gRPC: the server persists what it must
// and calls in here.
package core
