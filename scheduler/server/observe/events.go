package observe

import (
	"sync"
	"time"
)

// EventKind names what happened.
type EventKind string

// The kinds of events.
const (
	EventSplit            EventKind = "split"
	EventMerge            EventKind = "region-gone"
	EventConfChange       EventKind = "membership"
	EventLeaderChange     EventKind = "leader"
	EventOperatorFinished EventKind = "operator-finished"
	EventOperatorTimeout  EventKind = "operator-timeout"
	EventStoreDown        EventKind = "store-down"
	EventStoreUp          EventKind = "store-up"
	EventStoreState       EventKind = "store-state"
)

// Event is one thing that happened in the cluster, as the scheduler saw it.
type Event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Kind     EventKind `json:"kind"`
	RegionID uint64    `json:"region_id,omitempty"`
	StoreID  uint64    `json:"store_id,omitempty"`
	Text     string    `json:"text"`
}

// EventLimit is how many events the ring keeps; older ones are dropped.
const EventLimit = 512

// ring is the bounded list of recent events (one per process: a test
// that runs several schedulers in one process sees all of theirs).
var ring struct {
	mu     sync.Mutex
	seq    uint64
	events []Event // oldest first, at most EventLimit
}

// Record adds an event, stamped now unless it carries a time.
func Record(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	ring.mu.Lock()
	defer ring.mu.Unlock()
	ring.seq++
	e.Seq = ring.seq
	if len(ring.events) == EventLimit {
		copy(ring.events, ring.events[1:])
		ring.events = ring.events[:EventLimit-1]
	}
	ring.events = append(ring.events, e)
}

// Events returns the kept events with a sequence number above after,
// oldest first.
func Events(after uint64) []Event {
	ring.mu.Lock()
	defer ring.mu.Unlock()
	out := make([]Event, 0, len(ring.events))
	for _, e := range ring.events {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out
}
