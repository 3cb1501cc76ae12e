package raft

// Progress is the leader's view of one peer's log (the leader keeps one for
// itself too, so that counting replicas is one loop over Prs).
//
//   - Match is the highest index known to be in the peer's log and equal to
//     the leader's: entries up to Match are replicated there.
//   - Next is the index of the next entry to send. The leader advances it as
//     soon as it sends (it does not wait for the answer), so several appends
//     can be in flight; a rejection moves it back.
//
// Invariant: Match < Next.
type Progress struct {
	Match, Next uint64

	// Your Data Here (2C).
	//lab:begin 2C
	// pendingSnapshot is the index of a snapshot sent to the peer and not
	// yet acknowledged (0: none). Meanwhile the leader sends the peer no
	// entries: they would follow a log the peer does not have yet.
	pendingSnapshot uint64
	// snapshotElapsed counts the leader's ticks since the snapshot was
	// sent; after an election timeout it is presumed lost and sent again.
	snapshotElapsed int
	//lab:end
}
