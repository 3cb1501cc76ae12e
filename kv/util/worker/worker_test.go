package worker

import (
	"sync"
	"testing"
	"time"
)

type recordingHandler struct {
	mu      sync.Mutex
	started bool
	tasks   []int
}

func (h *recordingHandler) Start() { h.started = true }

func (h *recordingHandler) Handle(t Task) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tasks = append(h.tasks, t.(int))
}

func TestWorkerHandlesTasksInOrderThenStops(t *testing.T) {
	var wg sync.WaitGroup
	w := NewWorker("test", &wg)
	h := &recordingHandler{}
	w.Start(h)
	for i := 0; i < 100; i++ {
		w.Sender() <- i
	}
	w.Stop()
	w.Stop()
	waitOrFail(t, &wg)
	if !h.started {
		t.Error("Start of the handler was not called")
	}
	if len(h.tasks) != 100 {
		t.Fatalf("handled %d tasks, want 100", len(h.tasks))
	}
	for i, v := range h.tasks {
		if v != i {
			t.Fatalf("task %d was %d: tasks handled out of order", i, v)
		}
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("worker goroutine still running 5s after Stop")
	}
}
