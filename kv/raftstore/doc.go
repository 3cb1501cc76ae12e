// Package raftstore is the multi-raft store: every region of the key space
// that has a peer on this store is one Raft group, and this package runs
// all of them on a few goroutines, persists them in two badger engines and
// applies what they commit. Projects 2B, 2C and 3B are built here.
//
// # Goroutines and workers
//
// Nothing in a peer is locked: one goroutine owns all peers.
//
//   - The raft worker (raft_worker.go) is that goroutine. Each round it takes
//     every message queued for the store's peers (raft messages from other
//     stores, client commands, ticks, split requests), hands each to its peer
//     (peerMsgHandler.HandleMsg), and then lets every peer that got one
//     handle its Ready once (HandleRaftReady). Many messages, one Ready.
//   - The store worker (store_worker.go) handles what belongs to no peer yet:
//     a message for a region the store does not have creates its peer (or is
//     answered as stale), store heartbeats, snapshot file GC.
//   - The tick driver (ticker.go) sends every peer a tick each
//     RaftBaseTickInterval; a peer's ticker decides which of its periodic
//     jobs are due (raft tick, log GC, split check, scheduler heartbeat).
//   - Background workers (kv/util/worker, handlers in runner/) do the slow
//     work the raft worker must not wait for: the snapshot worker applies
//     snapshots and deletes the data of destroyed peers, the
//     snapshot-generator worker builds snapshots (so applying never waits
//     behind a large generation), the raft-log GC worker deletes compacted
//     log entries, the split checker scans a region for its size and split
//     key, and the scheduler worker talks to the scheduler (heartbeats,
//     AskSplit) and turns its orders into admin commands.
//
// The router (router.go) maps region ids to peers; RaftstoreRouter is what
// the rest of the system uses to send raft messages and commands in.
//
// # Two engines
//
// raftdb holds the raft log and each region's RaftLocalState (hard state
// and last index). kvdb holds the data (column families as key prefixes),
// and, next to it, each region's RaftApplyState and RegionLocalState. The
// apply state is written in the same kvdb batch as the data it covers, so
// after a crash the two always agree: the store replays the log from the
// applied index. Key formats are in meta/.
//
// Both engines sync every write but those of batches marked DeferSync
// (engine_util.CreateKVDB, CreateRaftDB, WriteBatch.DeferSync), which the
// next synced write covers. kvdb defers the apply batches: a machine crash
// may lose the last applies, which the store then redoes from the raft log.
// So the raft-log GC worker syncs kvdb before it deletes entries, and
// batches that hold an admin command sync (the store acts on them at once).
// raftdb may defer a raft state that only moves the commit index (no
// entries, snapshot, term or vote: what etcd's raft calls a Ready that need
// not sync); a store that restarts with its commit below its applied index
// raises it, and the leader tells it the rest. This is an optional speed-up
// in SaveReadyState: syncing every raft state is correct too.
//
// # Handling a Ready (peer_msg_handler.go)
//
//  1. A leader sends its appends (SendAppends) and applies the committed
//     entries it already has on disk (committedOnDisk): the followers write
//     while it does, and its clients need not wait for its write. Raft
//     counts the leader's own copy only when their answers come, in a later
//     round, after its write. Both are optional speed-ups.
//  2. PeerStorage.SaveReadyState writes the new entries and hard state to
//     raftdb (and, for a snapshot, the new states to both engines) before
//     anything else is sent: a peer never acknowledges what it has not
//     persisted.
//  3. The other messages go to the transport, and the other committed
//     entries are applied (apply.go): writes of consecutive entries share
//     one kvdb batch with the new apply state, reads flush it first, and
//     each proposal's callback is answered once its batch is written. Applying an admin command returns an exec result
//     (exec_result.go): log compacted, membership changed, region split.
//     The peer carries out those results (onExecResults): schedules log GC,
//     updates the store's region index, creates or destroys peers, reports
//     to the scheduler.
//  4. RawNode.Advance tells raft the Ready is done.
//
// # The store's region index
//
// storeMeta (raftstore.go) holds every region of the store by id and by
// range, and the votes kept for regions a split has not created yet. The
// raft worker and the store worker share it: take its lock for every read
// and update, and keep the two maps in step (a split, a membership change,
// a snapshot that brings a region, a destroyed peer).
//
// # Where the student work is
//
// peer_storage.go (saving a Ready, applying a snapshot: 2B, 2C),
// peer_msg_handler.go (proposing commands, handling a Ready, log GC tick:
// 2B, 2C; conf change, split and leader transfer proposals: 3B),
// apply.go and apply_admin.go (applying entries and admin commands: 2B, 2C,
// 3B), exec_result.go (carrying out membership changes and splits: 3B),
// and peer.go (destroying a peer: 3B). doc/project2-RaftKV.md and
// doc/project3-MultiRaftKV.md walk through them.
package raftstore
