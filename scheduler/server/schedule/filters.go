package schedule

import (
	"github.com/tinykv-lab/tinykv/proto/pkg/metapb"
	"github.com/tinykv-lab/tinykv/scheduler/server/core"
)

// Filter rules stores out as the source or the target of a move.
type Filter interface {
	// Type names the filter in logs.
	Type() string
	// Source says whether the store must not give away a peer or a leader.
	Source(opt Options, store *core.StoreInfo) bool
	// Target says whether the store must not receive a peer or a leader.
	Target(opt Options, store *core.StoreInfo) bool
}

// IsHealthy says whether a store is in service: Up, and heard from within
// max-store-down-time.
func IsHealthy(opt Options, store *core.StoreInfo) bool {
	return store.IsUp() && store.DownTime() <= opt.GetMaxStoreDownTime()
}

// CanReceive says whether a store may be given a new peer or the
// leadership of a region: it is healthy and not disconnected (heard from
// within store-disconnect-time). A disconnected store keeps its peers and
// may still give peers and leaders away; sending it more would only fail
// (a leader transfer to a store that does not answer aborts, a peer added
// there never catches up) while it may be dead for good.
func CanReceive(opt Options, store *core.StoreInfo) bool {
	return IsHealthy(opt, store) && !store.IsDisconnected(opt.GetStoreDisconnectTime())
}

// StoreStateName is what the scheduler makes of a store, as the API and the
// dashboard show it: Offline or Tombstone as registered; else Down (silent
// past max-store-down-time), Disconnected (silent past
// store-disconnect-time) or Up.
func StoreStateName(opt Options, store *core.StoreInfo) string {
	switch store.GetState() {
	case metapb.StoreState_Offline:
		return "Offline"
	case metapb.StoreState_Tombstone:
		return "Tombstone"
	}
	switch {
	case store.DownTime() > opt.GetMaxStoreDownTime():
		return "Down"
	case store.IsDisconnected(opt.GetStoreDisconnectTime()):
		return "Disconnected"
	}
	return "Up"
}

// FilterSource says whether any filter rules the store out as a source.
func FilterSource(opt Options, store *core.StoreInfo, filters []Filter) bool {
	for _, f := range filters {
		if f.Source(opt, store) {
			return true
		}
	}
	return false
}

// FilterTarget says whether any filter rules the store out as a target.
func FilterTarget(opt Options, store *core.StoreInfo, filters []Filter) bool {
	for _, f := range filters {
		if f.Target(opt, store) {
			return true
		}
	}
	return false
}

// SelectSourceStores returns the stores no filter rules out as a source.
func SelectSourceStores(opt Options, stores []*core.StoreInfo, filters []Filter) []*core.StoreInfo {
	var out []*core.StoreInfo
	for _, s := range stores {
		if !FilterSource(opt, s, filters) {
			out = append(out, s)
		}
	}
	return out
}

// SelectTargetStores returns the stores no filter rules out as a target.
func SelectTargetStores(opt Options, stores []*core.StoreInfo, filters []Filter) []*core.StoreInfo {
	var out []*core.StoreInfo
	for _, s := range stores {
		if !FilterTarget(opt, s, filters) {
			out = append(out, s)
		}
	}
	return out
}

type healthFilter struct{}

// NewHealthFilter rules out, both ways, stores that are not Up or have not
// sent a heartbeat within max-store-down-time.
func NewHealthFilter() Filter { return healthFilter{} }

func (healthFilter) Type() string { return "health" }

func (healthFilter) Source(opt Options, store *core.StoreInfo) bool { return !IsHealthy(opt, store) }

func (healthFilter) Target(opt Options, store *core.StoreInfo) bool { return !IsHealthy(opt, store) }

type disconnectFilter struct{}

// NewDisconnectFilter rules out as targets the stores that are
// disconnected (silent past store-disconnect-time); they stay sources.
func NewDisconnectFilter() Filter { return disconnectFilter{} }

func (disconnectFilter) Type() string { return "disconnect" }

func (disconnectFilter) Source(Options, *core.StoreInfo) bool { return false }

func (disconnectFilter) Target(opt Options, store *core.StoreInfo) bool {
	return store.IsDisconnected(opt.GetStoreDisconnectTime())
}

type excludedFilter struct {
	sources, targets map[uint64]struct{}
}

// NewExcludedFilter rules out the given stores as sources and as targets
// (either map may be nil), such as the stores that already hold a peer of
// the region being moved.
func NewExcludedFilter(sources, targets map[uint64]struct{}) Filter {
	return excludedFilter{sources: sources, targets: targets}
}

func (excludedFilter) Type() string { return "excluded" }

func (f excludedFilter) Source(_ Options, store *core.StoreInfo) bool {
	_, ok := f.sources[store.GetID()]
	return ok
}

func (f excludedFilter) Target(_ Options, store *core.StoreInfo) bool {
	_, ok := f.targets[store.GetID()]
	return ok
}

type busyFilter struct{}

// NewBusyFilter rules out as targets the stores that report themselves busy.
func NewBusyFilter() Filter { return busyFilter{} }

func (busyFilter) Type() string { return "busy" }

func (busyFilter) Source(Options, *core.StoreInfo) bool { return false }

func (busyFilter) Target(_ Options, store *core.StoreInfo) bool { return store.IsBusy() }
