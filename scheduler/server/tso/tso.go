// Package tso hands out the cluster's timestamps.
//
// A timestamp is physical milliseconds << 18 | logical. The oracle keeps a
// physical time and a logical counter; a batch of n takes n logical values
// at once. Before any timestamp at or above a physical time is answered, a
// bound above it is saved to etcd: a restarted or newly elected oracle
// starts above the saved bound, so timestamps never go backwards.
package tso

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/pingcap/errors"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/proto/pkg/schedulerpb"
	"github.com/tinykv-lab/tinykv/scheduler/server/kv"
)

// Key is where the saved bound lives (relative to the cluster root).
const Key = "timestamp"

const (
	// LogicalBits is the width of the logical part.
	LogicalBits = 18
	// MaxLogical bounds the logical part: logical < MaxLogical.
	MaxLogical = 1 << LogicalBits
	// DefaultSaveAhead is how far ahead of the physical time the bound is
	// saved by default.
	DefaultSaveAhead = 3 * time.Second
	// UpdateInterval is how often the physical time follows the clock.
	UpdateInterval = 50 * time.Millisecond
)

// Oracle is the timestamp oracle of a leader.
type Oracle struct {
	mu       sync.Mutex
	kv       *kv.Etcd
	physical int64 // ms
	logical  int64 // last logical answered at physical
	saved    int64 // ms: every timestamp answered has physical < saved
	ahead    int64 // ms: how far ahead of the physical time a bound is saved
	now      func() time.Time
}

func ms(t time.Time) int64 { return t.UnixNano() / int64(time.Millisecond) }

// NewOracle loads the saved bound and starts above it, saving a new bound
// saveAhead (0: DefaultSaveAhead) ahead.
func NewOracle(store *kv.Etcd, saveAhead time.Duration) (*Oracle, error) {
	if saveAhead <= 0 {
		saveAhead = DefaultSaveAhead
	}
	o := &Oracle{kv: store, ahead: saveAhead.Milliseconds(), now: time.Now}
	last, err := Load(store)
	if err != nil {
		return nil, err
	}
	physical := ms(o.now())
	if physical <= last {
		log.Warnf("[tso] saved=%d now=%d the clock is behind the saved bound, starting above it", last, physical)
		physical = last + 1
	}
	if err := o.save(physical + o.ahead); err != nil {
		return nil, err
	}
	o.physical = physical
	return o, nil
}

// Load reads the saved bound in ms (0 when there is none).
func Load(store *kv.Etcd) (int64, error) {
	v, ok, err := store.Load(Key)
	if err != nil || !ok {
		return 0, err
	}
	if len(v) != 8 {
		return 0, errors.Errorf("tso: saved bound %q is %d bytes, want 8", Key, len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// save writes the bound; the caller holds mu or owns o alone.
func (o *Oracle) save(bound int64) error {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(bound))
	if err := o.kv.Save(Key, buf[:]); err != nil {
		return errors.Annotatef(err, "tso: save bound %d", bound)
	}
	o.saved = bound
	return nil
}

// advance moves the physical time to at least target (never backwards) and
// saves a new bound when the physical time comes close to the saved one.
// The caller holds mu.
func (o *Oracle) advance(target int64) error {
	if target <= o.physical {
		return nil
	}
	if target >= o.saved-1 {
		if err := o.save(target + o.ahead); err != nil {
			return err
		}
	}
	o.physical = target
	o.logical = 0
	return nil
}

// Update follows the clock; the leader calls it every UpdateInterval.
func (o *Oracle) Update() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	now := ms(o.now())
	if o.saved-now <= UpdateInterval.Milliseconds()*2 {
		// Keep the bound well ahead so that requests rarely wait for etcd.
		if err := o.save(maxInt64(now, o.physical) + o.ahead); err != nil {
			return err
		}
	}
	return o.advance(now)
}

// Get answers count timestamps: the last one of the batch (the first is
// logical - count + 1 at the same physical time).
func (o *Oracle) Get(count uint32) (schedulerpb.Timestamp, error) {
	if count == 0 {
		return schedulerpb.Timestamp{}, errors.New("tso: count 0: ask for at least one timestamp")
	}
	if count >= MaxLogical {
		return schedulerpb.Timestamp{}, errors.Errorf("tso: count %d: at most %d timestamps per request", count, MaxLogical-1)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.logical+int64(count) >= MaxLogical {
		// The logical part of this millisecond is used up: move on to the
		// next one (ahead of the clock if need be, never past the bound).
		if err := o.advance(o.physical + 1); err != nil {
			return schedulerpb.Timestamp{}, err
		}
	}
	o.logical += int64(count)
	return schedulerpb.Timestamp{Physical: o.physical, Logical: o.logical}, nil
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
