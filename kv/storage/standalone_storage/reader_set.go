//lab:file 1

package standalone_storage

import (
	"sync"
	"time"
)

// readerGracePeriod bounds how long Stop waits for open readers. A request
// closes its reader within milliseconds; a reader that is never closed (the
// course tests' helpers leave theirs open) must not keep Stop waiting forever.
const readerGracePeriod = time.Second

// readerSet counts the open readers of one run of the database (from Start
// to Stop), so that Stop can wait for them before badger unmaps its files.
type readerSet struct {
	mu       sync.Mutex
	open     int
	stopping bool
	drained  chan struct{} // closed once stopping and no reader is open
}

func newReaderSet() *readerSet {
	return &readerSet{drained: make(chan struct{})}
}

// add counts a new reader; the caller makes sure drain has not begun.
func (rs *readerSet) add() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.open++
}

// remove uncounts a closed reader.
func (rs *readerSet) remove() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.open--
	if rs.stopping && rs.open == 0 {
		close(rs.drained)
	}
}

// drain waits until every reader is closed, or for timeout at most, and
// returns how many are still open.
func (rs *readerSet) drain(timeout time.Duration) int {
	rs.mu.Lock()
	rs.stopping = true
	if rs.open == 0 {
		close(rs.drained)
	}
	rs.mu.Unlock()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-rs.drained:
		return 0
	case <-timer.C:
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rs.open
	}
}
