// Package worker runs tasks one at a time on a goroutine of their own.
//
// The raftstore starts several workers (raft-log GC, region snapshots,
// split checks, scheduler heartbeats): each owns a TaskHandler and a
// channel; anyone holding the Sender can queue a task, and the handler sees
// tasks in the order they were sent.
package worker

import "sync"

// Task is anything a TaskHandler knows how to handle.
type Task interface{}

// TaskStop asks a worker to finish: tasks queued before it are handled,
// tasks queued after it are not.
type TaskStop struct{}

// TaskHandler handles the tasks of one worker.
type TaskHandler interface {
	Handle(t Task)
}

// Starter is implemented by handlers that need to run something on the
// worker's goroutine before the first task.
type Starter interface {
	Start()
}

// Worker is a named task queue served by one goroutine.
type Worker struct {
	name     string
	sender   chan<- Task
	receiver <-chan Task
	wg       *sync.WaitGroup
	stopOnce sync.Once
}

// taskQueueLength bounds the queue: a sender blocks when the worker is that
// far behind, which bounds memory and pushes back on the producer.
const taskQueueLength = 4096

// NewWorker makes a worker. When wg is not nil, Start adds the worker's
// goroutine to it, so the owner can wait for every worker at once.
func NewWorker(name string, wg *sync.WaitGroup) *Worker {
	ch := make(chan Task, taskQueueLength)
	return &Worker{
		name:     name,
		sender:   ch,
		receiver: ch,
		wg:       wg,
	}
}

// Name is the worker's name.
func (w *Worker) Name() string { return w.name }

// Start runs handler on a new goroutine until Stop.
func (w *Worker) Start(handler TaskHandler) {
	if w.wg != nil {
		w.wg.Add(1)
	}
	go func() {
		if w.wg != nil {
			defer w.wg.Done()
		}
		if s, ok := handler.(Starter); ok {
			s.Start()
		}
		for task := range w.receiver {
			if _, ok := task.(TaskStop); ok {
				return
			}
			handler.Handle(task)
		}
	}()
}

// Sender is the channel to queue tasks on.
func (w *Worker) Sender() chan<- Task {
	return w.sender
}

// Stop asks the worker to finish after the tasks already queued. It does not
// wait: wait on the WaitGroup given to NewWorker. Calling it twice is harmless.
func (w *Worker) Stop() {
	w.stopOnce.Do(func() {
		w.sender <- TaskStop{}
	})
}
