package schedule

import (
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
