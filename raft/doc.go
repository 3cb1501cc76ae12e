/*
Package raft is a Raft consensus library: it keeps a replicated log
consistent on a group of nodes, of which at most a minority may be down or
cut off. It follows the Raft paper (extended version, "In Search of an
Understandable Consensus Algorithm") and, where the paper leaves a choice,
etcd's raft library.

# No I/O inside

The library never touches the disk, the network or a clock. A Raft is a
state machine driven by two inputs:

  - tick(): one unit of logical time has passed (the application calls
    RawNode.Tick every, say, 100ms). Timeouts are counted in ticks.
  - Step(m): a message arrived (from a peer, or a local one such as a
    proposal).

Its outputs are collected in a Ready: entries and state to persist, messages
to send, committed entries to apply. This makes every behaviour of the
library reproducible in a test: no goroutine, no sleep, no real time.

# Roles and terms

Time is divided into terms, numbered 1, 2, 3, ... Each term starts with an
election and has at most one leader. Every message carries the sender's
term, and every node obeys two rules before anything else (Step):

  - a message of a higher term makes the node a follower of that term;
  - a message of a lower term is stale: it changes nothing, and a stale
    request only gets an answer carrying the current term, so that its
    sender learns it.

A node is in one of three states:

	             times out,                       receives votes from
	  start      starts election                  a majority
	----> Follower ---------------> Candidate ------------------> Leader
	        ^  ^                     |   |                          |
	        |  |  finds the leader   |   | times out:               |
	        |  +---- or a higher -----+   | new election             |
	        |         term               +--------+                 |
	        |                                                       |
	        +---------------- finds a higher term ------------------+

A follower that hears nothing from a leader for an election timeout (drawn
at random from [ElectionTick, 2*ElectionTick) each time the timer restarts,
so that nodes rarely time out together) becomes a candidate: it increases
its term, votes for itself and asks the others for their votes. A node
grants one vote per term, and only to a candidate whose log is at least as
up to date as its own (higher last term, or same last term and at least as
long). A majority of grants makes the candidate leader; a majority of
rejections sends it back to follower.

A new leader appends an empty entry of its term at once: entries of earlier
terms become committed only through an entry of the current term (figure 8
of the paper), so this no-op is what commits everything before it.

# Messages

Local messages (never sent over the network, no term):

	MsgHup      the election timer fired: campaign
	MsgBeat     the heartbeat timer fired (leader): send heartbeats
	MsgPropose  append these entries (leader only; others answer
	            ErrProposalDropped)

Between nodes:

	MsgRequestVote          candidate -> all   Index, LogTerm: its last entry
	MsgRequestVoteResponse                     Reject: vote refused
	MsgAppend               leader -> follower Index, LogTerm: the entry just
	                                           before Entries; Commit: the
	                                           leader's commit index
	MsgAppendResponse                          Index: the follower's log matches
	                                           the leader's up to here; with
	                                           Reject, a hint (Index, LogTerm)
	                                           where the leader should try next
	MsgHeartbeat            leader -> follower only Term: "I am alive"
	MsgHeartbeatResponse                       lets the leader catch up a
	                                           follower that lags
	MsgSnapshot             leader -> follower the state machine up to an index,
	                                           for a follower that needs
	                                           compacted entries
	MsgTransferLeader       to the leader      hand leadership to m.From
	MsgTimeoutNow           leader -> target   campaign now (end of a transfer)

# Replication

The leader keeps a Progress per member: Match (replicated up to here) and
Next (send from here). It sends appends as soon as there is something to
send and moves Next forward without waiting for the answer. A follower
accepts an append only if its log holds the entry just before the new ones
(index and term): this check, applied by induction, gives the Log Matching
property — two logs that share an entry (index, term) are identical up to
it. On a mismatch the follower rejects with a hint and the leader moves
Next back. Conflicting entries on the follower are truncated and replaced.
The leader commits the highest index stored on a majority once that entry is
of its term, and then sends appends to everyone so followers learn it.

# The Ready loop

RawNode is the application's handle. A typical driver, single-threaded:

	for {
		select {
		case <-ticker.C:
			rn.Tick()
		case m := <-fromNetwork:
			rn.Step(m)
		case data := <-proposals:
			rn.Propose(data)
		}
		if !rn.HasReady() {
			continue
		}
		rd := rn.Ready()
		// 1. persist: rd.Snapshot (if not empty), rd.Entries, rd.HardState
		// 2. send rd.Messages (only after step 1: a vote or an
		//    acknowledgment must survive a crash)
		// 3. apply rd.Snapshot and rd.CommittedEntries to the state machine;
		//    for a conf change entry call rn.ApplyConfChange
		rn.Advance(rd)
	}

Ready reports SoftState and HardState only when they changed, and hands the
messages over (a second Ready does not repeat them). Advance tells the node
what was persisted and applied, and lets it drop from memory what the
storage has compacted.

# Snapshots and compaction

The application decides when to compact its log (after a snapshot of its
state machine, or, in the raftstore, when the applied log grows too long);
the log's memory copy follows at the next Advance. When the leader must
send a follower entries it no longer has, it sends Storage.Snapshot()
instead (the storage may answer ErrSnapshotTemporarilyUnavailable while it
builds one; the leader asks again later). The follower throws its log away,
takes the snapshot's index, term and membership, and hands the snapshot to
the application in the next Ready.

# Membership and leader transfer

Members change one at a time: a conf change entry is proposed like any
other entry, takes effect when the application applies it
(RawNode.ApplyConfChange), and the leader refuses a second one until the
first is applied (PendingConfIndex). A node that is not a member never
campaigns. Leader transfer: the leader brings the target's log up to date,
then sends it MsgTimeoutNow; the target campaigns at once and wins. While
a transfer is pending the leader drops proposals; it gives up after an
election timeout.

# Invariants

These hold at every step, and the safety tests check them all the time:

  - Election Safety: at most one leader per term.
  - Leader Append-Only: a leader never overwrites or deletes its entries.
  - Log Matching: logs with the same (index, term) entry agree up to it.
  - Leader Completeness: a committed entry is in the log of every later
    leader.
  - State Machine Safety: nodes apply the same entry at each index.
  - Locally: applied <= committed <= last index; commit never decreases;
    term never decreases; one vote per term.

# Where things are

	raft.go         Raft, Config, roles, Step, the handlers students write
	election.go     campaign, votes                            (2AA)
	replication.go  proposals, appends, commit                 (2AB)
	rawnode.go      RawNode, Ready, Advance                    (2AC)
	snapshot.go     sending snapshots                          (2C)
	transfer.go     leader transfer                            (3A)
	log.go          RaftLog, the in-memory log
	progress.go     Progress
	storage.go      Storage, MemoryStorage
	util.go         helpers for the library and its tests

Logging follows the repository's convention: a topic in brackets (elect,
vote, append, commit, heartbeat, snap, transfer, conf, propose, persist,
apply, msg, tick), then key=value fields, then text:
"[elect] peer=2 term=6 became leader at index 12". Set LOG_LEVEL=debug to
see every message a node handles.

Randomness: election timeouts come from a source seeded by Config.Seed (and
the node ID); the same seed replays the same run. The package's own tests
print their seed and take RAFT_SEED from the environment to replay it.
*/
package raft
