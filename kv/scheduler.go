package main

import (
	"context"
	"strings"
	"time"

	"github.com/tinykv-lab/tinykv/kv/raftstore/scheduler_client"
	"github.com/tinykv-lab/tinykv/log"
	"github.com/tinykv-lab/tinykv/scheduler/client"
)

// schedulerAttemptTimeout bounds one attempt to reach the scheduler.
const schedulerAttemptTimeout = 3 * time.Second

// connectScheduler connects the store to the scheduler at addrs (its
// members) and waits, with a log line per attempt, until it answers with
// its cluster id or ctx ends.
func connectScheduler(ctx context.Context, addrs []string) (scheduler_client.Client, error) {
	addr := strings.Join(addrs, ",")
	sched, err := scheduler_client.NewClient(addrs, client.Options{})
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, schedulerAttemptTimeout)
		id, err := sched.ClusterID(attemptCtx)
		cancel()
		if err == nil {
			log.Infof("connected to the scheduler at %s, cluster %d", addr, id)
			return sched, nil
		}
		if ctx.Err() != nil {
			sched.Close()
			return nil, ctx.Err()
		}
		log.Infof("waiting for the scheduler at %s (attempt %d): %v", addr, attempt, err)
		select {
		case <-ctx.Done():
			sched.Close()
			return nil, ctx.Err()
		case <-time.After(schedulerRetryInterval):
		}
	}
}
