package txntest

import (
	"context"
	"sync/atomic"
)

// Oracle hands out unique, increasing timestamps, as the scheduler's
// timestamp oracle does. Its clock is virtual: every timestamp is one
// millisecond of physical time (mvcc.PhysicalTime) after the previous one.
// A lock TTL therefore runs out after a number of timestamps, however fast
// or slow the machine is, and a test never waits for the wall clock.
type Oracle struct {
	last atomic.Uint64
}

// oneMillisecond is the step of the virtual clock: the physical part of a
// timestamp counts milliseconds above the logical bits.
const oneMillisecond = uint64(1) << 18

// NewOracle returns an oracle whose first timestamp is one millisecond.
func NewOracle() *Oracle {
	return new(Oracle)
}

// Next returns a new timestamp, larger than every one before it.
func (o *Oracle) Next() uint64 {
	return o.last.Add(oneMillisecond)
}

// Last returns the newest timestamp handed out (0 before the first).
func (o *Oracle) Last() uint64 {
	return o.last.Load()
}

// Timestamp is Next, as a percolator.Oracle.
func (o *Oracle) Timestamp(context.Context) (uint64, error) {
	return o.Next(), nil
}
