// Package runner holds the raftstore's background workers: the handlers of
// the kv/util/worker queues that the store starts, each fed with tasks by
// the raft worker so that slow work never blocks Ready handling. The
// raft-log GC handler deletes compacted log entries from raftdb
// (RaftLogGCTask); the region handler generates a region's snapshot from a
// consistent read of kvdb (RegionTaskGen), applies a received one after
// deleting the region's old data (RegionTaskApply), and destroys a removed
// peer's range (RegionTaskDestroy); the split checker walks a region's keys
// and proposes a split once it grew past the maximum size
// (SplitCheckTask); the scheduler handler sends region and store
// heartbeats to the scheduler, asks it for the ids of a split, and turns
// its answers (add or remove a peer, transfer leadership) into admin
// commands for the region's leader. A handler reports back through the
// router or the channel a task carries, never by touching a peer.
package runner
